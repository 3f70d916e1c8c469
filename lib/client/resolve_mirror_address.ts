import { normalizeMirrorAddress } from "./normalize_mirror_address.ts";
import { readProfileConfig } from "./read_profile_config.ts";

/**
 * The mirror used when nothing else names one, and what `ferry mirror set --reset` selects.
 * ferry has no public mirror of its own, so this is TiUP's official mirror, spelled exactly as
 * TiUP spells it (trailing slash included, TIUP-FORMAT.md §0) so that a TiUP profile's cached
 * `bin/<hash>.root.json` for it is found.
 */
export const DEFAULT_MIRROR = "https://tiup-mirrors.pingcap.com/";

/** Where the effective mirror address came from. */
export type MirrorSource = "FERRY_MIRROR" | "TIUP_MIRRORS" | "config" | "default";

/** The effective mirror address and where it came from. */
export interface MirrorAddress {
  /** Normalized: an http(s) URL as given, or an absolute directory. */
  address: string;
  source: MirrorSource;
  /** The address in the profile's config file (normalized), when there is one. */
  configured?: string;
  /** The config file it came from (ferry.toml or tiup.toml). */
  configFile?: string;
}

/**
 * Which mirror the client uses, first match wins: `$FERRY_MIRROR`, `$TIUP_MIRRORS` (TiUP's
 * variable, §5.1), `mirror = "…"` in `<home>/ferry.toml` (else `<home>/tiup.toml`), else
 * {@linkcode DEFAULT_MIRROR}. Local paths become absolute (relative to `cwd`). Reads only.
 *
 * @example
 * ```ts
 * await resolveMirrorAddress(home, { TIUP_MIRRORS: "/data/mirror" });
 * // { address: "/data/mirror", source: "TIUP_MIRRORS", ... }
 * ```
 */
export async function resolveMirrorAddress(
  home: string,
  env: Record<string, string | undefined>,
  cwd: string = process.cwd(),
): Promise<MirrorAddress> {
  const config = await readProfileConfig(home);
  const configured = config.mirror ? normalizeMirrorAddress(config.mirror, cwd) : undefined;
  const extra = {
    ...(configured !== undefined ? { configured } : {}),
    ...(config.file !== undefined ? { configFile: config.file } : {}),
  };
  for (const source of ["FERRY_MIRROR", "TIUP_MIRRORS"] as const) {
    const value = env[source];
    if (value && value.trim() !== "") {
      return { address: normalizeMirrorAddress(value, cwd), source, ...extra };
    }
  }
  if (configured !== undefined) return { address: configured, source: "config", ...extra };
  return { address: DEFAULT_MIRROR, source: "default", ...extra };
}
