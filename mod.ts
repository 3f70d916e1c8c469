/**
 * ferry's embeddable surface, for programs that want a mirror server, a registry proxy or a
 * verifying mirror reader without the CLI:
 *
 * ```ts
 * import { createMirrorServer, LocalStorage, serveHttp } from "./mod.ts";
 * const app = createMirrorServer(new LocalStorage("/srv/mirror"));
 * await serveHttp((request, info) => app.fetch(request, info), { hostname: "127.0.0.1", port: 8080 });
 * ```
 *
 * @module
 */
export { createMirrorServer, type MirrorServerOptions } from "./lib/server/mirror_server.ts";
export { createRegistryProxy, type RegistryProxyDeps } from "./proxy/create_registry_proxy.ts";
export { defaultProxyConfig, type ProxyConfig } from "./proxy/proxy_config.ts";
export { type RunningServer, serveHttp, type ServeHttpOptions } from "./lib/runtime.ts";
export type { FileStat, Storage, StorageReader, StoredObject } from "./lib/storage/storage.ts";
export { LocalStorage } from "./lib/storage/local_storage.ts";
export { HttpStorage } from "./lib/storage/http_storage.ts";
export { MemoryStorage } from "./lib/storage/memory_storage.ts";
export { S3Storage } from "./lib/storage/s3_storage.ts";
export { loadS3Config } from "./lib/storage/s3_config.ts";
export { openStorage, openWritableStorage } from "./lib/storage/open_storage.ts";
export { MirrorUpdater } from "./lib/trust/mirror_updater.ts";
export { verifyMirror } from "./lib/mirror/verify_mirror.ts";
export { cloneMirror } from "./lib/mirror/clone/clone_mirror.ts";
