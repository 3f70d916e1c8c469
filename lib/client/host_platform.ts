import { UsageError } from "../errors.ts";

/** An os/arch pair in TiUP's (Go's) spelling: linux|darwin and amd64|arm64. */
export interface Platform {
  os: string;
  arch: string;
}

const OS_NAMES: Record<string, string> = { linux: "linux", darwin: "darwin" };
const ARCH_NAMES: Record<string, string> = { x64: "amd64", arm64: "arm64" };

/**
 * The platform ferry runs on, as TiUP names it (GOOS/GOARCH): node's `linux`/`darwin` and
 * `x64`/`arm64` become `linux`/`darwin` and `amd64`/`arm64`. These are the platforms mirrors
 * carry (TIUP-FORMAT.md §0). Any other host throws UsageError asking for explicit --os/--arch.
 *
 * @example
 * ```ts
 * hostPlatform(); // { os: "linux", arch: "amd64" } on an x86-64 Linux machine
 * ```
 */
export function hostPlatform(
  platform: string = process.platform,
  arch: string = process.arch,
): Platform {
  const os = OS_NAMES[platform];
  const goArch = ARCH_NAMES[arch];
  if (os === undefined || goArch === undefined) {
    throw new UsageError(
      `Cannot map this host (${platform}/${arch}) to a TiUP platform: pass --os linux|darwin and --arch amd64|arm64`,
    );
  }
  return { os, arch: goArch };
}
