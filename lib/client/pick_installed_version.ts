import type { ComponentManifest } from "../format/manifest_types.ts";
import type { Platform } from "./host_platform.ts";
import { ANY_PLATFORM } from "./select_component_version.ts";

/** What the current mirror says about the component, for {@linkcode pickInstalledVersion}. */
export interface PickInstalledVersionOptions {
  /** The verified manifest of the component on the current mirror; absent when it has none. */
  manifest?: ComponentManifest;
  /** The platform whose builds count (with any/any); required with `manifest`. */
  platform?: Platform;
}

/**
 * The installed version `ferry <component>` runs when no version is named, following TiUP's
 * `SelectInstalledVersion` (pkg/environment/env.go): the newest installed version that is not
 * a nightly, else the newest nightly. With the current mirror's manifest at hand, only the
 * installed versions that manifest lists for the platform (or any/any) with an entry, not
 * yanked, count: a version installed from another mirror is not this mirror's to vouch for,
 * so the mirror's own latest is installed instead (TiUP skips such versions too). `installed`
 * must be oldest first (as listInstalled returns it). Undefined when nothing qualifies.
 *
 * @example
 * ```ts
 * pickInstalledVersion(["v1.0.0", "v1.1.0", "v2.0.0-nightly"]); // "v1.1.0"
 * ```
 */
export function pickInstalledVersion(
  installed: string[],
  options: PickInstalledVersionOptions = {},
): string | undefined {
  const { manifest, platform } = options;
  if (manifest && !platform) {
    throw new TypeError("pickInstalledVersion: a manifest needs a platform");
  }
  const usable = manifest && platform
    ? installed.filter((version) => isOffered(manifest, platform, version))
    : installed;
  const stable = usable.filter((version) => !version.includes("nightly"));
  return stable.at(-1) ?? usable.at(-1);
}

/** True when the manifest has a usable item of `version` for the platform or any/any. */
function isOffered(manifest: ComponentManifest, platform: Platform, version: string): boolean {
  return [`${platform.os}/${platform.arch}`, ANY_PLATFORM].some((key) => {
    const versions = Object.hasOwn(manifest.platforms, key) ? manifest.platforms[key] : undefined;
    const item = versions && Object.hasOwn(versions, version) ? versions[version] : undefined;
    return item !== undefined && item.entry !== "" && !item.yanked;
  });
}
