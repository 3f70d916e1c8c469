import { createOciHandler } from "../../lib/server/oci/create_oci_handler.ts";
import type { StorageReader } from "../../lib/storage/storage.ts";
import { loadRegistryTable, type RegistryTableOptions } from "../_registry_table.ts";

/**
 * The `/v2/` handler `ferry mirror serve` mounts: the bundle's pull API, with the proxy's
 * `--default-registry`, `--alias` and library rules from the same flags and config file.
 */
export async function bundleHandler(
  storage: StorageReader,
  flags: RegistryTableOptions,
  onLog: (line: string) => void,
): Promise<(request: Request) => Promise<Response>> {
  const config = await loadRegistryTable(flags, { requireKnown: false });
  return createOciHandler(storage, {
    ...(config.defaultRegistry !== undefined ? { defaultRegistry: config.defaultRegistry } : {}),
    aliases: config.aliases,
    libraryRegistries: new Set(
      Object.values(config.registries).filter((r) => r.library).map((r) => r.name),
    ),
    onLog,
  });
}
