/**
 * Removal of the temporary files that interrupted writes leave in a directory tree.
 *
 * @module
 */
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";

/** Options for {@linkcode sweepTempFiles}. */
export interface SweepTempFilesOptions {
  /** The name prefix of temporary files, e.g. LocalStorage's ".ferry-tmp-". */
  prefix: string;
  /** Only files last modified before this time are removed. */
  before: Date;
}

/**
 * Removes every regular file under `root` whose name starts with `prefix` and whose mtime is
 * before `before`; returns their paths relative to `root`. A writer that is still filling a
 * temporary file keeps moving its mtime forward, so a cut-off well in the past (an hour) spares
 * live writers of other processes — the mirror lock only excludes other mirror writers, not
 * e.g. a clone's downloads. Symlinks are neither followed nor removed; files that vanish
 * meanwhile (their writer renamed them) are skipped. Usable on any directory tree: a mirror, the
 * proxy's blob cache.
 *
 * @example
 * ```ts
 * await sweepTempFiles("/srv/mirror", { prefix: ".ferry-tmp-", before: new Date(Date.now() - 3600_000) });
 * ```
 */
export async function sweepTempFiles(
  root: string,
  options: SweepTempFilesOptions,
): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (dir: string, relative: string): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = nodePath.join(dir, entry.name);
      const key = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(full, key);
      } else if (entry.isFile() && entry.name.startsWith(options.prefix)) {
        const info = await fs.lstat(full).catch(() => undefined);
        if (!info || info.mtime.getTime() >= options.before.getTime()) continue;
        await fs.unlink(full).then(() => removed.push(key), () => {});
      }
    }
  };
  await walk(root, "");
  return removed.sort();
}
