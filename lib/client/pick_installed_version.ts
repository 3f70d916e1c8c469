import type { ComponentManifest } from "../repo/manifest_types.ts";

/**
 * The installed version `ferry <component>` runs when no version is named (TiUP's
 * `SelectInstalledVersion`): the newest installed version that is not a nightly, else the
 * newest nightly; with a verified manifest at hand, versions it marks yanked on every platform
 * are skipped. `installed` must be oldest first (as listInstalled returns it). Undefined when
 * nothing qualifies.
 *
 * @example
 * ```ts
 * pickInstalledVersion(["v1.0.0", "v1.1.0", "v2.0.0-nightly"]); // "v1.1.0"
 * ```
 */
export function pickInstalledVersion(
  installed: string[],
  manifest?: ComponentManifest,
): string | undefined {
  const usable = installed.filter((version) => !manifest || !isYanked(manifest, version));
  const stable = usable.filter((version) => !version.includes("nightly"));
  return stable.at(-1) ?? usable.at(-1);
}

function isYanked(manifest: ComponentManifest, version: string): boolean {
  const items = Object.values(manifest.platforms)
    .map((versions) => Object.hasOwn(versions, version) ? versions[version] : undefined)
    .filter((item) => item !== undefined);
  return items.length > 0 && items.every((item) => item.yanked);
}
