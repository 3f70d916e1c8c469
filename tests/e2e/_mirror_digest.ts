/**
 * A digest of a whole directory tree — every file's path, mode and sha256, and every directory —
 * so a test can prove a failed command left a mirror exactly as it was (nothing added, changed,
 * or left behind as a temporary file).
 *
 * @module
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";

/** path → "dir" | "<mode> <sha256>" for everything under `root`. */
export async function dirDigest(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string, relative: string): Promise<void> {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      const full = nodePath.join(dir, entry.name);
      if (entry.isDirectory()) {
        out[path] = "dir";
        await walk(full, path);
      } else {
        const info = await fs.stat(full);
        const hash = createHash("sha256").update(await fs.readFile(full)).digest("hex");
        out[path] = `${(info.mode & 0o777).toString(8)} ${hash}`;
      }
    }
  }
  await walk(root, "");
  return out;
}
