import { UsageError } from "../errors.ts";
import { latestStable } from "../format/latest_stable.ts";
import type { ComponentManifest, VersionItem } from "../format/manifest_types.ts";
import { compareVersions } from "./compare_versions.ts";
import type { Platform } from "./host_platform.ts";
import { YankedVersionError } from "./yanked_version_error.ts";

/** The platform-independent key, used when the host's platform has no build (§0). */
export const ANY_PLATFORM = "any/any";

/** A chosen version of a component for one platform. */
export interface SelectedVersion {
  version: string;
  /** The platform key the item was found under: "linux/amd64" or "any/any". */
  platform: string;
  item: VersionItem;
}

/** Options for {@linkcode selectComponentVersion}. */
export interface SelectComponentVersionOptions {
  /** The version asked for; absent for the latest stable; "nightly" for the nightly pointer. */
  version?: string;
  platform: Platform;
}

/**
 * Picks the version to install, as TiUP does (TIUP-FORMAT.md §1.3, §5.5):
 * - an explicit version as named; "nightly" resolves to the manifest's `nightly` pointer;
 * - no version: the latest stable — the highest semver among non-nightly, non-yanked versions,
 *   preferring ones without a prerelease tag;
 * - the host's platform first, then `any/any`; an item with an empty `entry` does not exist.
 *
 * Throws UsageError saying what exists when the version is unknown or has no build for this
 * platform; YankedVersionError (a UsageError) when it is yanked (TiUP refuses those too).
 *
 * @example
 * ```ts
 * selectComponentVersion(manifest.signed, { platform: { os: "linux", arch: "amd64" } });
 * // { version: "v1.1.0", platform: "linux/amd64", item: {...} }
 * ```
 */
export function selectComponentVersion(
  manifest: ComponentManifest,
  options: SelectComponentVersionOptions,
): SelectedVersion {
  const name = manifest.id;
  const host = `${options.platform.os}/${options.platform.arch}`;
  const maps = [host, ANY_PLATFORM]
    .map((platform) => ({ platform, versions: usable(manifest.platforms[platform]) }));
  let version = options.version;
  if (version === "nightly") {
    if (manifest.nightly === "") {
      throw new UsageError(`Component "${name}" has no nightly build: name a version instead`);
    }
    version = manifest.nightly;
  }
  if (version === undefined) {
    for (const { platform, versions } of maps) {
      const latest = latestStable(versions);
      if (latest !== undefined) return { version: latest, platform, item: versions[latest]! };
    }
    throw new UsageError(
      `Component "${name}" has no stable version for ${host}${
        describeOthers(manifest, host)
      }: name a version with ${name}:VERSION`,
    );
  }
  for (const { platform, versions } of maps) {
    const item = Object.hasOwn(versions, version) ? versions[version] : undefined;
    if (!item) continue;
    if (item.yanked) throw new YankedVersionError(name, version, item);
    return { version, platform, item };
  }
  const elsewhere = Object.entries(manifest.platforms)
    .filter(([, versions]) => Object.hasOwn(usable(versions), version))
    .map(([platform]) => platform);
  if (elsewhere.length > 0) {
    throw new UsageError(
      `Component ${name}:${version} has no build for ${host} (only for ${elsewhere.join(", ")})`,
    );
  }
  const known = [...new Set(maps.flatMap(({ versions }) => Object.keys(versions)))]
    .sort(compareVersions).slice(-5);
  throw new UsageError(
    `Component "${name}" has no version "${version}"${
      known.length > 0 ? ` (latest: ${known.join(", ")})` : ""
    }: see "ferry list ${name}"`,
  );
}

/** Versions whose item has an entry (TiUP: an empty entry means "does not exist"). */
function usable(versions: Record<string, VersionItem> | undefined): Record<string, VersionItem> {
  const out: Record<string, VersionItem> = {};
  for (const [version, item] of Object.entries(versions ?? {})) {
    if (item.entry !== "") out[version] = item;
  }
  return out;
}

function describeOthers(manifest: ComponentManifest, host: string): string {
  const others = Object.keys(manifest.platforms).filter((p) => p !== host && p !== ANY_PLATFORM);
  return others.length > 0 ? ` (it has builds for ${others.join(", ")})` : "";
}
