import { loadComponentManifest } from "../../trust/load_component_manifest.ts";
import { loadRepositoryState } from "../../trust/load_verified_state.ts";
import { urlToPath } from "../../format/versioned_name.ts";
import type { StorageReader } from "../../storage/storage.ts";

/** What a tarball must be, as the mirror's signed manifests say. */
export interface ExpectedTarball {
  length: number;
  sha256: string;
  /** TiUP records it; checked when present. */
  sha512?: string;
}

/**
 * Every tarball the mirror's own signed manifests list, by storage path, with its signed length
 * and hashes: the mirror's state verified from its own root (expiry not fatal: an offline mirror
 * whose timestamp expired still vouches for its bytes), then each component's manifest against
 * its owner's keys. Only these paths are ever fetched from an upstream, and only these bytes
 * kept.
 */
export async function listedTarballs(
  storage: StorageReader,
  options: { now?: Date } = {},
): Promise<Map<string, ExpectedTarball>> {
  const state = await loadRepositoryState(storage, options.now ? { now: options.now } : {});
  const listed = new Map<string, ExpectedTarball>();
  for (const id of Object.keys(state.index.manifest.signed.components)) {
    const component = await loadComponentManifest(storage, state, id);
    for (const versions of Object.values(component?.manifest.signed.platforms ?? {})) {
      for (const item of Object.values(versions)) {
        const sha256 = item.hashes.sha256;
        if (typeof sha256 !== "string") continue;
        const sha512 = item.hashes.sha512;
        listed.set(urlToPath(item.url), {
          length: item.length,
          sha256,
          ...(typeof sha512 === "string" ? { sha512 } : {}),
        });
      }
    }
  }
  return listed;
}
