import * as nodePath from "node:path";
import { defineCommand } from "../lib/cli/command.ts";
import { ferryHome } from "../lib/client/home_dir.ts";
import { UsageError } from "../lib/errors.ts";
import { fetchTrustingCa, serveHttp } from "../lib/runtime.ts";
import { loadTls } from "../lib/server/load_tls.ts";
import { parseListen } from "../lib/server/parse_listen.ts";
import { isS3Location, openWritableStorage } from "../lib/storage/open_storage.ts";
import type { ListableStorage } from "../lib/storage/storage.ts";
import { FERRY_VERSION } from "../lib/version.ts";
import { createRegistryProxy } from "../proxy/create_registry_proxy.ts";
import { loadRegistryTable, REGISTRY_TABLE_FLAGS } from "./_registry_table.ts";
import { serverFlags } from "./_server_flags.ts";
import { waitForStop } from "./_wait_for_stop.ts";

export const proxyCommand = defineCommand({
  usage: "[--listen HOST:PORT] [--config FILE] [--cache-dir DIR] [--tls-cert FILE --tls-key FILE]",
  description: `Lets docker, containerd, podman and skopeo pull public images through this one host
when the origin registries are slow or unreachable. Three ways to address an image:

  1. Host prefix (any registry in the table):
       docker pull cr.example/k8s.gcr.io/coredns/coredns:v1.8.6
  2. Host alias (a DNS name per registry, set in the config "aliases"):
       docker pull k8s-gcr.cr.example/coredns/coredns:v1.8.6
  3. Docker Hub mirror ("defaultRegistry: docker.io"; /etc/docker/daemon.json
     {"registry-mirrors": ["https://cr.example"]}):
       docker pull mysql:5.7

Blobs and manifests by digest are cached forever and verified before they are cached; tags are
re-checked after the tag TTL and served from the cache when the upstream fails. Built-in
registries: docker.io, gcr.io, ghcr.io, k8s.gcr.io, registry.k8s.io, quay.io, mcr.microsoft.com,
nvcr.io, docker.elastic.co, cr.l5d.io; others must be added in the config (never an open proxy).
/metrics serves Prometheus counters.

Examples:
  ferry proxy --listen :5000
  ferry proxy --config /etc/ferry/proxy.yaml --tls-cert cert.pem --tls-key key.pem
  ferry proxy --registry upstream.test=http://127.0.0.1:15000 --default-registry upstream.test
  ferry proxy --registry my.reg=https://10.0.0.5:5000,ca=my-ca.pem,credentials=my.reg.auth

Upstream credentials go only to the registry's own origin and to the token realms named for it
(config "tokenRealms", flag option token-realm=URL); redirects into loopback or private networks
are refused unless the registry itself is in one. With client logins on, /metrics needs a login
or the config's metrics token.`,
  flags: {
    ...serverFlags("127.0.0.1:5000"),
    "cache-dir": {
      type: "string",
      valueName: "DIR",
      description: "Where the cache lives: a directory (default $FERRY_HOME/proxy-cache) or " +
        "s3://BUCKET/PREFIX, which any number of replicas may share",
    },
    ...REGISTRY_TABLE_FLAGS,
  },
  positionals: { max: 0 },
  async run({ options, out, env, signal }) {
    const listen = parseListen(options.listen ?? "127.0.0.1:5000");
    const accessLog = options["access-log"] ?? "on";
    if (accessLog !== "on" && accessLog !== "off") {
      throw new UsageError(`Cannot use --access-log "${accessLog}": expected on or off`);
    }
    const tls = await loadTls(options["tls-cert"], options["tls-key"]);
    const config = await loadRegistryTable(options);

    const given = options["cache-dir"] ?? nodePath.join(ferryHome(env), "proxy-cache");
    // A bucket is shared: every replica started on it fetches each cold blob only once in all.
    const cacheDir = isS3Location(given) ? given : nodePath.resolve(given);
    const storage = openWritableStorage(cacheDir, { env });
    // A bucket that cannot be reached (endpoint, credentials) fails the start, not every pull.
    if (isS3Location(cacheDir)) await probeBucket(storage);
    const app = createRegistryProxy(config, {
      fetch: globalThis.fetch.bind(globalThis),
      fetchFor: (registry) => registry.ca ? fetchTrustingCa(registry.ca) : globalThis.fetch,
      storage,
      userAgent: `ferry/${FERRY_VERSION}`,
      ...(accessLog === "on" ? { onAccess: (line: string) => out.print(line) } : {}),
      onLog: (line) => out.warn(line),
    });
    const server = await serveHttp((request, info) => app.fetch(request, info), {
      hostname: listen.hostname,
      port: listen.port,
      ...(tls ? { tls } : {}),
    });
    const host = server.url.replace(/^https?:\/\//, "");
    out.info(`Registry proxy at ${server.url}, cache in ${cacheDir}`);
    out.info(`Registries: ${Object.keys(config.registries).join(", ")}`);
    if (config.defaultRegistry) {
      out.info(
        `Docker Hub mirror mode: names without a registry go to "${config.defaultRegistry}"`,
      );
    }
    out.info(`Pull:  docker pull ${host}/docker.io/library/alpine:latest`);
    out.info("Press Ctrl-C to stop.");
    await waitForStop(signal);
    out.info("Stopping: letting requests in flight finish…");
    await server.shutdown();
    await app.idle();
    return 0;
  },
});

/** One listing request: a missing bucket or refused credentials fail here, with S3's reason. */
async function probeBucket(storage: ListableStorage): Promise<void> {
  for await (const _ of storage.list("leases/")) break;
}
