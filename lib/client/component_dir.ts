import * as nodePath from "node:path";
import { checkComponentName } from "./check_component_name.ts";
import { checkComponentVersion } from "./check_component_version.ts";

/** The directory under the profile that holds every installed component. */
export const COMPONENTS_DIR = "components";

/**
 * Where a component version is (or will be) installed: `<home>/components/<name>/<version>`,
 * TiUP's layout (TIUP-FORMAT.md §5.5, §5.6). The name and version are checked first
 * (UsageError for "/", "..", whitespace…), so the result always lies inside the components
 * directory.
 *
 * @example
 * ```ts
 * componentDir("/home/me/.ferry", "hello", "v0.0.1");
 * // "/home/me/.ferry/components/hello/v0.0.1"
 * ```
 */
export function componentDir(home: string, name: string, version: string): string {
  checkComponentName(name);
  checkComponentVersion(version);
  return nodePath.join(nodePath.resolve(home), COMPONENTS_DIR, name, version);
}
