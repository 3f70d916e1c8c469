import { NotFoundError } from "../../errors.ts";
import type { Storage } from "../../storage/storage.ts";
import {
  downloadFiles,
  type DownloadOptions,
  type DownloadReport,
  type FileTask,
} from "./download_files.ts";

/**
 * Gives each task's `path` the bytes already in `target` at its `sourcePath` (the
 * `ferry-linux-amd64.tar.gz` copy of `ferry-v0.1.0-linux-amd64.tar.gz`). Where the backend can
 * copy without moving bytes (a hard link on local disk) and the journal vouches that the source
 * file holds what the task expects, that is what happens: no read, no hash, no second 50 MB on
 * disk; a `path` the journal already shows holding it is left alone. Every other task is copied
 * by {@linkcode downloadFiles}, verified while it streams. Copies land in `downloaded`.
 */
export async function copyWithinTarget(
  target: Storage,
  tasks: readonly FileTask[],
  options: DownloadOptions = {},
): Promise<DownloadReport> {
  const journal = options.journal;
  const rest: FileTask[] = [];
  const linked: string[] = [];
  const skipped: string[] = [];
  for (const task of tasks) {
    const from = task.sourcePath;
    const sha256 = from && journal && target.copy
      ? journal.lookup(await target.stat(from).catch(ignoreMissing))
      : undefined;
    const wanted = task.expected.find((e) => e.sha256 === sha256);
    if (!from || !wanted || !journal || !target.copy) {
      rest.push(task);
      continue;
    }
    const current = await target.stat(task.path).catch(ignoreMissing);
    if (journal.lookup(current) === wanted.sha256) {
      skipped.push(task.path);
      continue;
    }
    journal.record(await target.copy(from, task.path), wanted.sha256);
    linked.push(task.path);
  }
  const copied = await downloadFiles(target, target, rest, options);
  return {
    ...copied,
    downloaded: [...copied.downloaded, ...linked].sort(),
    skipped: [...copied.skipped, ...skipped].sort(),
  };
}

function ignoreMissing(error: unknown): undefined {
  if (error instanceof NotFoundError) return undefined;
  throw error;
}
