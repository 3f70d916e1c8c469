import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { NotFoundError } from "../errors.ts";
import { checkComponentName } from "./check_component_name.ts";
import { checkComponentVersion } from "./check_component_version.ts";
import { COMPONENTS_DIR } from "./component_dir.ts";
import { listInstalled } from "./list_installed.ts";

/** Options for {@linkcode uninstallComponent}. */
export interface UninstallComponentOptions {
  /** Remove only this version; without it every version of the component is removed. */
  version?: string;
}

/**
 * Removes an installed component version (`<home>/components/<name>/<version>`), or the whole
 * component (`<home>/components/<name>`) when no version is given. Returns the versions removed.
 *
 * Guarantees:
 * - Name and version are checked first (UsageError for "/", "..", whitespace…), and the
 *   directory removed is always inside `<home>/components`; a symlink planted there is removed
 *   as a link, never followed.
 * - The directory is first renamed to a hidden `.ferry-trash-*` name and then deleted, so a
 *   listing never shows a half-deleted version.
 * - Nothing installed → NotFoundError naming what was asked for.
 *
 * @example
 * ```ts
 * await uninstallComponent(home, "hello", { version: "v0.0.1" }); // ["v0.0.1"]
 * await uninstallComponent(home, "hello");                        // every version left
 * ```
 */
export async function uninstallComponent(
  home: string,
  name: string,
  options: UninstallComponentOptions = {},
): Promise<string[]> {
  checkComponentName(name);
  if (options.version !== undefined) checkComponentVersion(options.version);
  const root = nodePath.join(nodePath.resolve(home), COMPONENTS_DIR);
  const installed = (await listInstalled(home)).find((component) => component.name === name);
  const componentPath = nodePath.join(root, name);
  if (options.version !== undefined) {
    if (!installed?.versions.includes(options.version)) {
      throw new NotFoundError(`${name}:${options.version}`);
    }
    await removeHidden(nodePath.join(componentPath, options.version), componentPath);
    // Leave no empty component directory behind.
    await fs.rmdir(componentPath).catch(() => {});
    return [options.version];
  }
  const exists = await fs.lstat(componentPath).then(() => true, () => false);
  if (!exists) throw new NotFoundError(name);
  await removeHidden(componentPath, root);
  return installed?.versions ?? [];
}

async function removeHidden(path: string, parent: string): Promise<void> {
  const trash = nodePath.join(parent, `.ferry-trash-${randomBytes(6).toString("hex")}`);
  await fs.rename(path, trash);
  await fs.rm(trash, { recursive: true, force: true });
}
