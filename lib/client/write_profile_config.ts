import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { LocalStorage } from "../storage/local_storage.ts";
import { findTomlString, setTomlString } from "./_toml_mirror.ts";
import { FERRY_CONFIG_FILE, type ProfileConfig, TIUP_CONFIG_FILE } from "./read_profile_config.ts";

/** Options for {@linkcode writeProfileConfig}. */
export interface WriteProfileConfigOptions {
  /** The profile is TiUP's (`isTiupProfile`): the mirror goes to tiup.toml. */
  tiupProfile?: boolean;
}

/**
 * Writes the profile config (creating the profile directory if needed) where the profile's
 * readers look for it:
 *
 * - a TiUP profile (`options.tiupProfile`, or a `tiup.toml` is already there): `mirror` goes to
 *   TiUP's `<home>/tiup.toml` (TiUP reads only its top-level `mirror` key), and a `mirror` line
 *   left in `<home>/ferry.toml` is removed, so there is one setting that both tools see;
 * - otherwise `<home>/ferry.toml`.
 *
 * `mirror` is set, or removed when `config.mirror` is undefined; every other line (comments,
 * keys ferry does not know) is kept. Files are replaced atomically (temporary file, fsync,
 * rename): a reader sees the old config or the new one. Returns the path written.
 *
 * @example
 * ```ts
 * await writeProfileConfig(home, { mirror: "http://127.0.0.1:8080" });
 * ```
 */
export async function writeProfileConfig(
  home: string,
  config: ProfileConfig,
  options: WriteProfileConfigOptions = {},
): Promise<string> {
  if (config.mirror !== undefined && /[\r\n\0]/.test(config.mirror)) {
    throw new RangeError("A mirror address cannot contain line breaks or NUL");
  }
  const root = nodePath.resolve(home);
  const storage = new LocalStorage(root);
  const tiupText = await readIfPresent(nodePath.join(root, TIUP_CONFIG_FILE));
  const name = options.tiupProfile || tiupText !== undefined ? TIUP_CONFIG_FILE : FERRY_CONFIG_FILE;
  const current = name === TIUP_CONFIG_FILE
    ? tiupText
    : await readIfPresent(nodePath.join(root, FERRY_CONFIG_FILE));
  await storage.write(name, setTomlString(current ?? "", "mirror", config.mirror));
  if (name === TIUP_CONFIG_FILE) {
    const ferryFile = nodePath.join(root, FERRY_CONFIG_FILE);
    const ferryText = await readIfPresent(ferryFile);
    // A mirror line that is not a string is left for its owner to see; tiup.toml wins anyway.
    const stale = ferryText !== undefined && tryFind(ferryText, ferryFile);
    if (stale) {
      await storage.write(FERRY_CONFIG_FILE, setTomlString(ferryText, "mirror", undefined));
    }
  }
  return nodePath.join(root, name);
}

function tryFind(text: string, file: string): boolean {
  try {
    return findTomlString(text, "mirror", file) !== undefined;
  } catch {
    return false;
  }
}

async function readIfPresent(file: string): Promise<string | undefined> {
  return await fs.readFile(file, "utf8").catch((error) => {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw error;
  });
}
