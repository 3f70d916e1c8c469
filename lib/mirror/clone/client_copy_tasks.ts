import type { ComponentManifest } from "../../format/manifest_types.ts";
import { latestStable } from "../../format/latest_stable.ts";
import { expectedOf, tarballPath } from "./_clone_items.ts";
import type { FileTask } from "./download_files.ts";

/**
 * `ferry-<os>-<arch>.tar.gz` for each platform: a copy, within the target, of the latest ferry
 * the clone's `ferry` manifest carries there (the latest stable, else any usable version), for
 * local_install.sh and install.sh to fetch by a fixed name.
 */
export function clientCopyTasks(
  ferry: ComponentManifest | undefined,
  platforms: readonly string[],
): FileTask[] {
  if (!ferry) return [];
  const tasks: FileTask[] = [];
  for (const platform of platforms) {
    if (platform === "any/any") continue;
    const versions = ferry.platforms[platform] ?? {};
    const latest = latestStable(versions) ??
      Object.keys(versions).find((v) => !versions[v]!.yanked);
    if (latest === undefined) continue;
    const item = versions[latest]!;
    tasks.push({
      path: `ferry-${platform.replace("/", "-")}.tar.gz`,
      sourcePath: tarballPath(item),
      expected: [expectedOf(item)],
      replace: true,
    });
  }
  return tasks;
}
