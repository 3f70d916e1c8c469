import { entryPath } from "./_entry_path.ts";
import { componentDir } from "./component_dir.ts";
import type { Platform } from "./host_platform.ts";
import { readCachedComponent } from "./read_cached_component.ts";
import { ANY_PLATFORM } from "./select_component_version.ts";

/**
 * The entry binary of an installed version without asking the mirror (offline runs, and runs of
 * an explicitly named installed version): the `entry` that the profile's cached
 * `manifests/<name>.json` gives for that version (host platform, then any/any, then any
 * platform), else `<dir>/<name>`. That cached manifest was verified when it was stored; it is
 * only used to find a path, and the path must stay inside the install directory and be a
 * regular file. Returns undefined when nothing usable is found.
 *
 * @example
 * ```ts
 * await findInstalledEntry(home, "hello", "v1.0.0", hostPlatform());
 * // "/home/me/.ferry/components/hello/v1.0.0/hello"
 * ```
 */
export async function findInstalledEntry(
  home: string,
  name: string,
  version: string,
  platform: Platform,
): Promise<string | undefined> {
  const dir = componentDir(home, name, version);
  for (const entry of [...await cachedEntries(home, name, version, platform), name]) {
    const path = await entryPath(dir, entry);
    if (path) return path;
  }
  return undefined;
}

async function cachedEntries(
  home: string,
  name: string,
  version: string,
  platform: Platform,
): Promise<string[]> {
  const platforms = (await readCachedComponent(home, name))?.platforms ?? {};
  const order = [`${platform.os}/${platform.arch}`, ANY_PLATFORM, ...Object.keys(platforms)];
  return order
    .map((p) => Object.hasOwn(platforms, p) ? platforms[p]![version]?.entry : undefined)
    .filter((entry): entry is string => typeof entry === "string" && entry !== "");
}
