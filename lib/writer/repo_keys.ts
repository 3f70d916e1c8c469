import { UsageError } from "../errors.ts";
import { readText } from "../storage/read_bytes.ts";
import type { ListableStorage, StorageReader } from "../storage/storage.ts";
import type { SigningKey } from "../format/key_info.ts";
import { parseKeyFile } from "../format/load_key.ts";
import type { RootManifest } from "../format/manifest_types.ts";
import { TOP_LEVEL_ROLES, type TopLevelRole } from "../format/repo_defaults.ts";

/** Where a repository's role keys live: a folder (prefix) of some storage. */
export interface KeyLocation {
  storage: StorageReader & ListableStorage;
  /** "keys/" for `<mirror>/keys`, "" when the storage is the key directory itself. */
  prefix: string;
}

/** The private keys found for each top-level role, matched by key ID against the root. */
export type RepoKeys = Record<TopLevelRole, SigningKey[]>;

/** Key files are small; anything bigger is not a key file. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * Loads every `*.json` private key directly in the key folder (TiUP names them
 * `<id16>-<role>.json`, but the name is not trusted) and assigns each to the roles of `root`
 * whose key sets list its ID. Public-only key files are skipped. A file that is not a TiUP key
 * file is an error naming it, so a damaged key directory is noticed before anything is signed.
 */
export async function loadRepoKeys(keys: KeyLocation, root: RootManifest): Promise<RepoKeys> {
  const found = new Map<string, SigningKey>();
  for await (const file of keys.storage.list(keys.prefix)) {
    const name = file.path.slice(keys.prefix.length);
    if (name.includes("/") || !name.endsWith(".json")) continue;
    const where = describeKeyFile(keys, file.path);
    const text = await readText(keys.storage, file.path, { maxBytes: MAX_KEY_FILE_BYTES })
      .catch((error) => {
        throw new UsageError(`Cannot read the key file "${where}": ${error.message}`);
      });
    const loaded = parseKeyFile(text, where);
    if (loaded.kind === "private") found.set(loaded.key.id, loaded.key);
  }
  const result = {} as RepoKeys;
  for (const role of TOP_LEVEL_ROLES) {
    result[role] = Object.keys(root.roles[role].keys).flatMap((id) => {
      const key = found.get(id);
      return key ? [key] : [];
    });
  }
  return result;
}

/** A key file's location for messages: "/srv/mirror/keys/1a2b…-root.json". */
export function describeKeyFile(keys: KeyLocation, path: string): string {
  const base = keys.storage.location.replace(/\/+$/, "");
  return `${base}/${path}`;
}
