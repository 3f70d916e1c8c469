import * as fs from "node:fs/promises";
import * as nodePath from "node:path";

/**
 * The absolute path of a component's entry binary inside its install directory, or undefined
 * when `entry` is unusable: empty, absolute, with a ".." segment or a backslash, resolving
 * (through symlinks) outside `dir`, or not a regular file. Private to lib/client.
 */
export async function entryPath(dir: string, entry: string): Promise<string | undefined> {
  if (entry === "" || entry.startsWith("/") || entry.includes("\\") || entry.includes("\0")) {
    return undefined;
  }
  const parts = entry.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.length === 0 || parts.includes("..")) return undefined;
  const path = nodePath.join(dir, ...parts);
  try {
    const [realDir, realPath] = await Promise.all([fs.realpath(dir), fs.realpath(path)]);
    if (!realPath.startsWith(realDir + nodePath.sep)) return undefined;
    if (!(await fs.stat(realPath)).isFile()) return undefined;
  } catch {
    return undefined;
  }
  return path;
}
