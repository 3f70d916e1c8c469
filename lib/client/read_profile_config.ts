import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { findTomlString } from "./_toml_mirror.ts";

/** ferry's own profile config file, in the profile directory. */
export const FERRY_CONFIG_FILE = "ferry.toml";
/** TiUP's profile config file (pkg/localdata/config.go): `mirror = "<addr>"`. */
export const TIUP_CONFIG_FILE = "tiup.toml";

/** The profile settings ferry keeps. */
export interface ProfileConfig {
  /** The mirror address: an http(s) URL or a local directory (TIUP-FORMAT.md §5.1). */
  mirror?: string;
}

/** What {@linkcode readProfileConfig} found, and where. */
export interface ReadProfileConfigResult extends ProfileConfig {
  /** The file the settings came from; absent when neither file exists. */
  file?: string;
}

/**
 * Reads the profile config. TiUP's `<home>/tiup.toml` comes first: where it exists the profile
 * is shared with `tiup`, and what `tiup mirror set` wrote there is what both tools use. Then
 * ferry's own `<home>/ferry.toml`. The first of them that names a (non-empty) mirror wins; when
 * neither does, `{ file }` names the first that exists, or `{}`. Only the top-level
 * `mirror = "<addr>"` key is read; other content is ignored. A `mirror` that is not a quoted
 * string throws SyntaxError naming the file and line.
 *
 * @example
 * ```ts
 * await readProfileConfig(home); // { mirror: "http://127.0.0.1:8080", file: ".../ferry.toml" }
 * ```
 */
export async function readProfileConfig(home: string): Promise<ReadProfileConfigResult> {
  let first: string | undefined;
  for (const name of [TIUP_CONFIG_FILE, FERRY_CONFIG_FILE]) {
    const file = nodePath.join(nodePath.resolve(home), name);
    const text = await fs.readFile(file, "utf8").catch((error) => {
      if ((error as { code?: string }).code === "ENOENT") return undefined;
      throw error;
    });
    if (text === undefined) continue;
    first ??= file;
    const found = findTomlString(text, "mirror", file);
    if (found && found.value !== "") return { mirror: found.value, file };
  }
  return first !== undefined ? { file: first } : {};
}
