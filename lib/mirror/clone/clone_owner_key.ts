import { UsageError } from "../../errors.ts";
import type { SigningKey } from "../../format/key_info.ts";
import type { IndexManifest } from "../../format/manifest_types.ts";
import { privateKeyFileText } from "../../format/private_key_file.ts";
import { MIRROR_KEYS_PREFIX } from "../../format/repo_defaults.ts";
import type { Storage } from "../../storage/storage.ts";
import { CLONE_OWNER_ID } from "./clone_options.ts";
import { loadSigningKeys } from "./load_signing_keys.ts";

/**
 * The key the clone signs its components with: the private key, found in `<target>/keys`, of
 * the owner {@linkcode CLONE_OWNER_ID} the target's verified `index` names; or, when the index
 * has no such owner yet, a new key (written to `keys/`, to be granted by the clone's index).
 * Throws UsageError when the index names the owner but its key is not in `keys/`.
 */
export async function cloneOwnerKey(
  target: Storage,
  index: IndexManifest,
  generateKey: () => Promise<SigningKey>,
): Promise<SigningKey> {
  const owner = index.owners[CLONE_OWNER_ID];
  if (owner) {
    const keys = await loadSigningKeys(target, MIRROR_KEYS_PREFIX);
    const key = Object.keys(owner.keys).map((id) => keys.get(id)).find((k) => k !== undefined);
    if (!key) {
      throw new UsageError(
        `Cannot refresh "${target.location}": the private key of its owner "${CLONE_OWNER_ID}" ` +
          `(${Object.keys(owner.keys).map((id) => id.slice(0, 16)).join(", ")}) is not in ` +
          `"${target.location}/keys"; restore it from a backup of that folder`,
      );
    }
    return key;
  }
  const key = await generateKey();
  await target.write(
    `${MIRROR_KEYS_PREFIX}${key.id.slice(0, 16)}-${CLONE_OWNER_ID}.json`,
    privateKeyFileText(key),
    { mode: 0o600 },
  );
  return key;
}
