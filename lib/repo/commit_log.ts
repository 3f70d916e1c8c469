import { NotFoundError } from "../errors.ts";
import { bodyStream } from "../storage/read_bytes.ts";
import type { Storage } from "../storage/storage.ts";

/** Where TiUP keeps its per-transaction copies. */
export const COMMITS_PREFIX = "commits/";

/**
 * Copies a transaction's files into `commits/commit-<unixnano>/`, as TiUP's store does after
 * every commit (TIUP-FORMAT.md §8): a full copy (tarballs included) that is never pruned. The
 * directory name comes from `now` in nanoseconds, moved forward when a commit of the same
 * nanosecond exists (callers hold the mirror lock). Returns the directory's storage path.
 */
export async function writeCommitLog(
  storage: Storage,
  paths: string[],
  options: { now: Date },
): Promise<string> {
  let nanos = BigInt(options.now.getTime()) * 1_000_000n;
  let dir = `${COMMITS_PREFIX}commit-${nanos}`;
  while (await exists(storage, `${dir}/timestamp.json`)) {
    nanos += 1n;
    dir = `${COMMITS_PREFIX}commit-${nanos}`;
  }
  // timestamp.json last here too, so a complete-looking commit dir is a complete one.
  const ordered = [
    ...paths.filter((p) => p !== "timestamp.json"),
    ...paths.filter((p) => p === "timestamp.json"),
  ];
  for (const path of ordered) {
    const name = path.slice(path.lastIndexOf("/") + 1);
    const object = await storage.read(path);
    await storage.write(`${dir}/${name}`, bodyStream(object));
  }
  return dir;
}

async function exists(storage: Storage, path: string): Promise<boolean> {
  try {
    await storage.stat(path);
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
}
