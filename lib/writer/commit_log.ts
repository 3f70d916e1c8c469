import { NotFoundError } from "../errors.ts";
import { copyObject } from "../storage/copy_object.ts";
import type { Storage } from "../storage/storage.ts";

/** Where TiUP keeps its per-transaction copies. */
export const COMMITS_PREFIX = "commits/";

/** One file of a commit-log copy: from a mirror path, or given bytes. */
export interface CommitLogFile {
  /** The file name inside the commit directory. */
  name: string;
  /** A mirror path to copy from. */
  from?: string;
  /** The bytes, when they are not (yet) in the mirror. */
  bytes?: Uint8Array;
}

/**
 * The name of a new commit directory, `commits/commit-<unixnano>`: `now` in nanoseconds, moved
 * forward when a commit of the same nanosecond exists (callers hold the mirror lock).
 */
export async function newCommitDir(storage: Storage, options: { now: Date }): Promise<string> {
  let nanos = BigInt(options.now.getTime()) * 1_000_000n;
  let dir = `${COMMITS_PREFIX}commit-${nanos}`;
  while (await exists(storage, `${dir}/timestamp.json`)) {
    nanos += 1n;
    dir = `${COMMITS_PREFIX}commit-${nanos}`;
  }
  return dir;
}

/**
 * Writes a transaction's files into the commit directory `dir`, as TiUP's store does for every
 * commit (TIUP-FORMAT.md §8): a full copy (tarballs included) that is never pruned. timestamp.json
 * goes last, so a commit directory with a timestamp.json is complete. A file already there with
 * the same size is kept (a resumed copy).
 */
export async function copyIntoCommitLog(
  storage: Storage,
  dir: string,
  files: CommitLogFile[],
): Promise<void> {
  const ordered = [
    ...files.filter((f) => f.name !== "timestamp.json"),
    ...files.filter((f) => f.name === "timestamp.json"),
  ];
  for (const file of ordered) {
    const target = `${dir}/${file.name}`;
    if (file.bytes) {
      await storage.write(target, file.bytes);
      continue;
    }
    const source = await storage.stat(file.from!);
    const copied = await storage.stat(target).catch(() => undefined);
    if (copied && copied.size === source.size && file.name !== "timestamp.json") continue;
    // A link where the backend can (mirror files are replaced by rename, never rewritten in
    // place, so the copy keeps its bytes): a 2 GB tarball costs no second 2 GB.
    await copyObject(storage, file.from!, target);
  }
}

/** Copies the mirror files `paths` into a new commit directory; returns its storage path. */
export async function writeCommitLog(
  storage: Storage,
  paths: string[],
  options: { now: Date },
): Promise<string> {
  const dir = await newCommitDir(storage, options);
  await copyIntoCommitLog(
    storage,
    dir,
    paths.map((path) => ({ name: path.slice(path.lastIndexOf("/") + 1), from: path })),
  );
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
