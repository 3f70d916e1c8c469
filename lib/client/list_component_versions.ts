import type { ComponentManifest } from "../format/manifest_types.ts";
import { compareVersions } from "./compare_versions.ts";
import type { Platform } from "./host_platform.ts";
import { ANY_PLATFORM } from "./select_component_version.ts";

/** One row of `ferry list <component>`. */
export interface ComponentVersionRow {
  version: string;
  installed: boolean;
  /** RFC 3339 release time of the build for this host (or any/any), else of any build. */
  released: string;
  /** Every platform with a build of this version, sorted. */
  platforms: string[];
  /** True when the build for this host is yanked (or, if there is none, every build is). */
  yanked: boolean;
  /** True for nightly builds ("nightly" in the version, or the manifest's nightly pointer). */
  nightly: boolean;
  /** True when the host (or any/any) has a build of it. */
  forHost: boolean;
}

/** Options for {@linkcode listComponentVersions}. */
export interface ListComponentVersionsOptions {
  platform: Platform;
  /** Also list yanked versions and versions with no build for this host. */
  all?: boolean;
  /** Installed versions of this component. */
  installed?: string[];
}

/**
 * The versions of a component for `ferry list <component>`, oldest first: by default those
 * with a build for the host platform or any/any that are not yanked (TiUP's `VersionList`);
 * with `all`, every version on every platform, yanked ones included and marked. Items with an
 * empty entry do not exist (TIUP-FORMAT.md §1.3). Pure.
 *
 * @example
 * ```ts
 * listComponentVersions(manifest.signed, { platform: hostPlatform(), installed: ["v1.0.0"] });
 * ```
 */
export function listComponentVersions(
  manifest: ComponentManifest,
  options: ListComponentVersionsOptions,
): ComponentVersionRow[] {
  const host = `${options.platform.os}/${options.platform.arch}`;
  const installed = new Set(options.installed ?? []);
  const versions = new Map<string, { platforms: string[] }>();
  for (const [platform, items] of Object.entries(manifest.platforms)) {
    for (const [version, item] of Object.entries(items)) {
      if (item.entry === "") continue;
      let entry = versions.get(version);
      if (!entry) versions.set(version, entry = { platforms: [] });
      entry.platforms.push(platform);
    }
  }
  const rows: ComponentVersionRow[] = [];
  for (const [version, { platforms }] of versions) {
    const own = [host, ANY_PLATFORM].find((p) => platforms.includes(p));
    const items = platforms.map((p) => manifest.platforms[p]![version]!);
    const item = own ? manifest.platforms[own]![version]! : items[0]!;
    const yanked = own ? item.yanked : items.every((i) => i.yanked);
    const row: ComponentVersionRow = {
      version,
      installed: installed.has(version),
      released: item.released,
      platforms: platforms.sort(),
      yanked,
      nightly: version.includes("nightly") ||
        (manifest.nightly !== "" && version === manifest.nightly),
      forHost: own !== undefined,
    };
    if (options.all || (row.forHost && !row.yanked)) rows.push(row);
  }
  return rows.sort((a, b) => compareVersions(a.version, b.version));
}
