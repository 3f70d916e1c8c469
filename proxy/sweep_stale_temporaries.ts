import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { TEMP_PREFIX } from "../lib/storage/local_storage.ts";

/**
 * A temporary file untouched this long belongs to no live download: a download writes as bytes
 * arrive and is cut off after the upstream timeout (30 s by default) without any.
 */
export const STALE_TEMPORARY_MS = 10 * 60_000;

/** What a sweep removed. */
export interface SweepResult {
  removed: number;
  bytes: number;
}

/**
 * Removes the `.ferry-tmp-*` files under a local cache directory that a killed proxy left
 * behind (writes are a temporary file, then a rename; a kill in between leaves the file, and
 * the storage never lists it, so nothing else would ever delete it or count its bytes). Files
 * modified within `olderThanMs` are kept: another process's download may still be writing them.
 * Symlinks are not followed.
 */
export async function sweepStaleTemporaries(
  directory: string,
  options: { olderThanMs?: number; now?: number } = {},
): Promise<SweepResult> {
  const cutoff = (options.now ?? Date.now()) - (options.olderThanMs ?? STALE_TEMPORARY_MS);
  const result: SweepResult = { removed: 0, bytes: 0 };
  const walk = async (dir: string): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = nodePath.join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
      } else if (entry.isFile() && entry.name.startsWith(TEMP_PREFIX)) {
        const info = await fs.lstat(path).catch(() => undefined);
        if (!info || info.mtimeMs > cutoff) continue;
        await fs.rm(path, { force: true });
        result.removed++;
        result.bytes += info.size;
      }
    }
  };
  await walk(directory);
  return result;
}
