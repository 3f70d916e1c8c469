import semver from "semver";
import type { VersionItem } from "./manifest_types.ts";

/**
 * The version a client installs when none is named, on one platform: the highest semver among
 * versions that are not yanked, have an entry and do not contain "nightly", preferring versions
 * without a prerelease tag (TiUP `Component.LatestVersion`, TIUP-FORMAT.md §1.3). Versions that
 * are not semver are never "latest". Returns undefined when nothing qualifies.
 *
 * @example
 * ```ts
 * latestStable({ "v1.0.0": item, "v1.1.0-rc": item, "v0.9.0": item }); // "v1.0.0"
 * ```
 */
export function latestStable(versions: Record<string, VersionItem>): string | undefined {
  let best: { version: string; parsed: string; prerelease: boolean } | undefined;
  for (const [version, item] of Object.entries(versions)) {
    if (item.yanked || item.entry === "" || version.includes("nightly")) continue;
    const parsed = semver.valid(version);
    if (parsed === null) continue;
    const prerelease = semver.prerelease(parsed) !== null;
    if (
      best === undefined ||
      (best.prerelease && !prerelease) ||
      (best.prerelease === prerelease && semver.gt(parsed, best.parsed))
    ) {
      best = { version, parsed, prerelease };
    }
  }
  return best?.version;
}
