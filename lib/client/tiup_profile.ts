import * as nodePath from "node:path";

/**
 * True when ferry's profile is TiUP's: chosen through `$TIUP_HOME` (no `$FERRY_HOME`), or a
 * directory named `.tiup` (TiUP's default, ~/.tiup). In a TiUP profile the mirror setting lives
 * in TiUP's `tiup.toml` (pkg/localdata/config.go), so that `tiup` and `ferry` on one host see
 * the same mirror. A profile where tiup.toml already exists is shared too; the profile-config
 * functions see that on disk.
 *
 * @example
 * ```ts
 * isTiupProfile({ TIUP_HOME: "/opt/tiup" }); // true
 * isTiupProfile({ FERRY_HOME: "/opt/ferry", TIUP_HOME: "/opt/tiup" }); // false
 * ```
 */
export function isTiupProfile(env: Record<string, string | undefined>): boolean {
  if (env.FERRY_HOME) return nodePath.basename(nodePath.resolve(env.FERRY_HOME)) === ".tiup";
  return Boolean(env.TIUP_HOME);
}
