import { UsageError } from "../errors.ts";
import { checkName } from "../format/check_names.ts";
import { extendExpiry } from "../format/extend_expiry.ts";
import { keyId, type PublicKeyInfo } from "../format/key_info.ts";
import type { IndexManifest } from "../format/manifest_types.ts";
import { normalizeManifest } from "../format/normalize_manifest.ts";
import { DEFAULT_EXPIRY_DAYS } from "../format/repo_defaults.ts";
import type { RepositoryState } from "../trust/load_verified_state.ts";

/** A new owner: who may publish components signed by `key`. */
export interface NewOwner {
  id: string;
  /** Display name (default: the ID). */
  name?: string;
  key: PublicKeyInfo;
}

/**
 * Builds the index for `mirror grant` (pure): `owners[id] = {name, keys: {keyid: key},
 * threshold: 1}`, version + 1, expiry ≥ now + 1 y. Refuses reserved IDs (root, index, snapshot,
 * timestamp), unsafe names, an existing owner ID, and a key another owner already holds (TiUP
 * maps a publish to its owner by key ID, so keys must be unique).
 */
export function planGrant(
  state: RepositoryState,
  owner: NewOwner,
  options: { now: Date },
): IndexManifest {
  const id = checkName("owner ID", owner.id);
  const name = owner.name || id;
  const current = state.index.manifest.signed;
  const where = `${state.location.replace(/\/+$/, "")}/${state.index.path}`;
  if (Object.hasOwn(current.owners, id)) {
    throw new UsageError(`Cannot grant "${id}": that owner already exists in "${where}"`);
  }
  const kid = keyId(owner.key);
  for (const [other, entry] of Object.entries(current.owners)) {
    if (Object.hasOwn(entry.keys, kid)) {
      throw new UsageError(
        `Cannot grant "${id}": key ${kid.slice(0, 16)} already belongs to owner "${other}"; ` +
          `each owner needs its own key (ferry mirror genkey -n ${id})`,
      );
    }
  }
  const index = normalizeManifest(current);
  index.owners[id] = { keys: { [kid]: owner.key }, name, threshold: 1 };
  index.version += 1;
  index.expires = extendExpiry(current.expires, options.now, DEFAULT_EXPIRY_DAYS.index);
  return index;
}
