import { NotFoundError, UsageError } from "../errors.ts";
import { initRepository } from "../writer/init_repository.ts";
import type { SigningKey } from "../format/key_info.ts";
import { MIRROR_KEYS_PREFIX } from "../format/repo_defaults.ts";
import { loadRepoKeys } from "../writer/repo_keys.ts";
import { loadRepositoryState } from "../trust/load_verified_state.ts";
import type { TrustedKeys } from "../format/verify_signatures.ts";
import { readBytes } from "../storage/read_bytes.ts";
import type { Storage, StorageReader } from "../storage/storage.ts";
import { MAX_ROOT_BYTES } from "../format/repo_defaults.ts";
import { TrustedMetadataSet } from "../trust/trusted_set.ts";

/** The role whose keys sign a bundle's inventory: the index says what a mirror carries. */
export const INVENTORY_ROLE = "index";

/** The keys that may sign a bundle's inventory, and whether the bundle was just created. */
export interface BundleSigner {
  keys: SigningKey[];
  /** True when the directory was empty and got a fresh root of trust (`ferry mirror init`). */
  created: boolean;
}

/**
 * The index-role keys of the bundle in `storage`, verified against its own root the way the
 * mirror writer does. A bundle is a ferry/TiUP mirror: an empty directory first becomes an empty
 * mirror (root, index, snapshot, timestamp, keys/), so images and packages share one root of
 * trust and the far side verifies both from the same root.json. Throws UsageError when the
 * directory is neither empty nor a mirror, or its keys/ lacks enough index keys.
 */
export async function openBundleSigner(
  storage: Storage,
  options: { now?: Date } = {},
): Promise<BundleSigner> {
  const now = options.now ?? new Date();
  let created = false;
  const hasRoot = await storage.stat("root.json").then(() => true, (error) => {
    if (error instanceof NotFoundError) return false;
    throw error;
  });
  if (!hasRoot) {
    await initRepository(storage, { now }).catch((error) => {
      if (!(error instanceof UsageError)) throw error;
      throw new UsageError(
        `Cannot save images into "${storage.location}": it is not empty and has no root.json ` +
          "(not a ferry bundle or mirror); choose an empty directory or a mirror",
        { cause: error },
      );
    });
    created = true;
  }
  const state = await loadRepositoryState(storage, { now });
  const root = state.root.manifest.signed;
  const keys = (await loadRepoKeys({ storage, prefix: MIRROR_KEYS_PREFIX }, root))[INVENTORY_ROLE];
  const threshold = root.roles[INVENTORY_ROLE].threshold;
  if (keys.length < threshold) {
    throw new UsageError(
      `Cannot sign the image inventory of "${storage.location}": its keys/ directory holds ` +
        `${keys.length} of the ${threshold} index keys its root.json requires`,
    );
  }
  return { keys: keys.slice(0, threshold), created };
}

/**
 * The keys and threshold an inventory in `storage` must be signed with: the index role of the
 * bundle's root, reached through the root chain (verified signatures and thresholds at every
 * step, as a TiUP client does) from `root` — a root.json the far side trusts, got out of band —
 * or else from the bundle's own root.json.
 */
export async function trustedInventoryKeys(
  storage: StorageReader,
  options: { now?: Date; root?: Uint8Array } = {},
): Promise<TrustedKeys & { rootVersion: number }> {
  let root;
  if (options.root) {
    const now = options.now ?? new Date();
    const set = new TrustedMetadataSet(options.root, { now: () => now, rootFile: "--root" });
    // TUF 5.3: N+1.root.json, N+2.root.json, … until one is missing.
    for (let version = set.root.signed.version + 1;; version++) {
      const bytes = await readBytes(storage, `${version}.root.json`, { maxBytes: MAX_ROOT_BYTES })
        .catch((error) => {
          if (error instanceof NotFoundError) return undefined;
          throw error;
        });
      if (!bytes) break;
      set.updateRoot(bytes);
    }
    root = set.root.signed;
  } else {
    root = (await loadRepositoryState(storage, options)).root.manifest.signed;
  }
  const role = root.roles[INVENTORY_ROLE];
  return { keys: role.keys, threshold: role.threshold, rootVersion: root.version };
}
