import { readText } from "../../storage/read_bytes.ts";
import type { ListableStorage, StorageReader } from "../../storage/storage.ts";
import type { SigningKey } from "../../format/key_info.ts";
import { parseKeyFile } from "../../format/load_key.ts";

/** Key files are small; anything bigger is not one. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * Every private key in the `*.json` files directly under `prefix` of `storage` (a mirror's
 * `keys/`, `--key-dir`, `$FERRY_HOME/keys`), by key ID. File names are not trusted: keys are
 * matched to owners and roles by ID. Public-only files and files that are not TiUP key files are
 * skipped (a key directory may hold other JSON); a missing directory gives an empty map.
 */
export async function loadSigningKeys(
  storage: StorageReader & ListableStorage,
  prefix: string,
): Promise<Map<string, SigningKey>> {
  const found = new Map<string, SigningKey>();
  let files;
  try {
    files = [];
    for await (const file of storage.list(prefix)) files.push(file);
  } catch {
    return found;
  }
  for (const file of files) {
    const name = file.path.slice(prefix.length);
    if (name.includes("/") || !name.endsWith(".json")) continue;
    try {
      const text = await readText(storage, file.path, { maxBytes: MAX_KEY_FILE_BYTES });
      const loaded = parseKeyFile(text, file.path);
      if (loaded.kind === "private") found.set(loaded.key.id, loaded.key);
    } catch {
      // Not a key file (or unreadable): not ours to judge here.
    }
  }
  return found;
}
