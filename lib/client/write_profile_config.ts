import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { LocalStorage } from "../storage/local_storage.ts";
import { setTomlString } from "./_toml_mirror.ts";
import { FERRY_CONFIG_FILE, type ProfileConfig } from "./read_profile_config.ts";

/**
 * Writes the profile config to `<home>/ferry.toml` (creating the profile directory if needed).
 * `mirror` is set, or removed when `config.mirror` is undefined; every other line of an
 * existing ferry.toml (comments, keys ferry does not know) is kept. The file is replaced
 * atomically (temporary file, fsync, rename): a reader sees the old config or the new one.
 * TiUP's tiup.toml is never written. Returns the file's path.
 *
 * @example
 * ```ts
 * await writeProfileConfig(home, { mirror: "http://127.0.0.1:8080" });
 * ```
 */
export async function writeProfileConfig(home: string, config: ProfileConfig): Promise<string> {
  const root = nodePath.resolve(home);
  const file = nodePath.join(root, FERRY_CONFIG_FILE);
  const current = await fs.readFile(file, "utf8").catch((error) => {
    if ((error as { code?: string }).code === "ENOENT") return "";
    throw error;
  });
  if (config.mirror !== undefined && /[\r\n\0]/.test(config.mirror)) {
    throw new RangeError("A mirror address cannot contain line breaks or NUL");
  }
  await new LocalStorage(root).write(
    FERRY_CONFIG_FILE,
    setTomlString(current, "mirror", config.mirror),
  );
  return file;
}
