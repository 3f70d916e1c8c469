import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { compareVersions } from "./compare_versions.ts";
import { COMPONENTS_DIR } from "./component_dir.ts";

/** One installed component and its installed versions. */
export interface InstalledComponent {
  name: string;
  /** Oldest first: semantic versions in semver order, then any others ("nightly") by name. */
  versions: string[];
}

/**
 * Lists what is installed under `<home>/components/<name>/<version>/`. Only directories count;
 * hidden names (ferry's `.ferry-extract-*` temporaries, a half-finished install or uninstall)
 * and names that are not valid component names or versions are skipped, so a listing never
 * shows something that is not fully in place. A missing profile gives `[]`. Components are
 * sorted by name; a component whose versions are all gone is left out.
 *
 * @example
 * ```ts
 * await listInstalled(home); // [{ name: "hello", versions: ["v0.0.1", "v0.0.2"] }]
 * ```
 */
export async function listInstalled(home: string): Promise<InstalledComponent[]> {
  const root = nodePath.join(nodePath.resolve(home), COMPONENTS_DIR);
  const components: InstalledComponent[] = [];
  for (const name of await directories(root, /^[A-Za-z0-9][A-Za-z0-9._-]*$/)) {
    const versions = await directories(nodePath.join(root, name), /^[A-Za-z0-9][A-Za-z0-9._+-]*$/);
    if (versions.length > 0) components.push({ name, versions: versions.sort(compareVersions) });
  }
  return components.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function directories(dir: string, pattern: RegExp): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch((error) => {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw error;
  });
  return entries
    .filter((entry) =>
      entry.isDirectory() && pattern.test(entry.name) && !entry.name.includes("..")
    )
    .map((entry) => entry.name);
}
