import { forEachLimited } from "../../for_each_limited.ts";
import { NotFoundError, StorageError } from "../../errors.ts";
import type { ProgressEvent } from "../../progress_events.ts";
import { bodyStream } from "../../storage/read_bytes.ts";
import {
  canFillFile,
  canFlush,
  type FileFillStorage,
  type FileStat,
  type Storage,
  type StorageReader,
  type StoredObject,
} from "../../storage/storage.ts";
import type { FileTransfer } from "../../http/body_file_transfer.ts";
import { hashStream } from "../../format/hash.ts";
import type { VerifiedJournal } from "./verified_journal.ts";
import {
  checkDigest,
  type ExpectedFile,
  needsSha512,
  verifiedBody,
  type VerifiedDigest,
} from "./verifying_stream.ts";
import { HashPool } from "../../format/hash_pool.ts";
import { collectGarbage } from "../../runtime.ts";

/** One file to bring from the source into the target. */
export interface FileTask {
  /** Storage path, the same in source and target ("tidb-v7.5.0-linux-amd64.tar.gz"). */
  path: string;
  /** Where to read it in the source, when not at `path` (a local copy under another name). */
  sourcePath?: string;
  /** The lengths and SHA-256s the file may have, from signed manifests (usually one). */
  expected: ExpectedFile[];
  /**
   * What an existing target file must match to be skipped, when stricter than `expected`
   * (`tiup-linux-amd64.tar.gz` may be any signed tiup version, but is refreshed to the latest).
   */
  current?: ExpectedFile[];
  /**
   * Replace an existing target file that matches none of `expected` (files derived from
   * manifests, such as `tiup-linux-amd64.tar.gz`). Other differing files are conflicts unless
   * the `overwrite` option is set.
   */
  replace?: boolean;
}

/** A file that could not be brought over, and why. */
export interface FileFailure {
  path: string;
  error: Error;
}

/** What {@linkcode downloadFiles} did. Every task lands in exactly one list. */
export interface DownloadReport {
  /** Fetched, verified and moved into place. */
  downloaded: string[];
  /** Already in the target with a matching length and SHA-256. */
  skipped: string[];
  /** The source does not have them (404). */
  missing: string[];
  /** In the target with other content; left alone (see `overwrite`). */
  conflicts: string[];
  /** Failed verification or transfer; the target copy (if any) was left alone. */
  failed: FileFailure[];
  /** Bytes downloaded. */
  bytes: number;
}

/** Options for {@linkcode downloadFiles}. */
export interface DownloadOptions {
  /** Transfers at once. Default 8. */
  jobs?: number;
  /** Replace target files whose content differs from the source. */
  overwrite?: boolean;
  /** Known hashes of target files; consulted before hashing, updated after every change. */
  journal?: VerifiedJournal;
  onProgress?: (event: ProgressEvent) => void;
  /** Stops starting new transfers; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Threads that hash the downloads (see HashPool); 0 hashes on the event loop. */
  hashWorkers?: number;
}

/**
 * The SHA-512 a signed manifest entry gives, as a field of an {@linkcode ExpectedFile}: present
 * whenever the manifest has one, so the download is checked against it too.
 */
export function sha512Of(item: { hashes: { sha512?: string } }): { sha512?: string } {
  const sha512 = item.hashes.sha512;
  return typeof sha512 === "string" && sha512 !== "" ? { sha512 } : {};
}

/**
 * Bytes downloaded between two garbage collections (Bun only; see collectGarbage). Bun's fetch
 * hands over each read in a fresh buffer, and its collector let ~150 MB of spent ones pile up
 * on a clone, each page faulted in anew; collecting this often lets them be reused instead.
 */
const COLLECT_EVERY_BYTES = 32 * 1024 * 1024;

/** Default number of parallel transfers. */
export const DEFAULT_JOBS = 8;

/**
 * Brings files from `source` into `target`, each verified against its signed length, SHA-256 and
 * SHA-512 while it streams, before it becomes visible:
 *
 * - a target file that already matches (by the journal's stat data, else by hashing it) is
 *   skipped, so a re-run fetches only what changed and a resumed run only what is missing;
 * - a download is streamed straight into `target.write` through a verifying stream, so memory
 *   stays flat and a file that fails verification errors the write before its atomic rename:
 *   the target keeps its previous file, or none;
 * - a 404 lands in `missing` and the other files still complete (TiUP aborts the whole clone,
 *   issue #1111); so do verification and transfer failures, in `failed`;
 * - at most `jobs` transfers run at once; duplicate paths are fetched once;
 * - the hashing runs on worker threads (a HashPool), so the event loop only moves bytes from
 *   the sockets to the files, and the two hashes run beside it on the other cores.
 */
export async function downloadFiles(
  source: StorageReader,
  target: Storage,
  tasks: readonly FileTask[],
  options: DownloadOptions = {},
): Promise<DownloadReport> {
  const report: DownloadReport = {
    downloaded: [],
    skipped: [],
    missing: [],
    conflicts: [],
    failed: [],
    bytes: 0,
  };
  const unique = dedupe(tasks);
  const jobs = Math.max(1, Math.floor(options.jobs ?? DEFAULT_JOBS));
  const journal = options.journal;
  const abortable = options.signal ? { signal: options.signal } : {};

  // Phase 1: what is already in place. Cheap with the journal; hashing otherwise.
  const fetch: FileTask[] = [];
  await forEachLimited(unique, jobs, async (task) => {
    const state = await existingState(target, task, journal);
    if (state === "match") report.skipped.push(task.path);
    else if (state === "differs" && !task.replace && !options.overwrite) {
      report.conflicts.push(task.path);
    } else fetch.push(task);
  }, abortable);

  // Phase 2: the transfers.
  const progress = progressReporter(options.onProgress, {
    filesTotal: unique.length,
    filesDone: unique.length - fetch.length,
    bytesTotal: fetch.reduce((sum, t) => sum + Math.max(...t.expected.map((e) => e.length)), 0),
  });
  progress.tick(undefined, true);
  let sinceSave = 0;
  let sinceCollect = 0;
  const hashing = new HashPool(
    options.hashWorkers === undefined ? {} : { workers: options.hashWorkers },
  );
  await forEachLimited(fetch, jobs, async (task) => {
    try {
      const object = await source.read(task.sourcePath ?? task.path, {
        maxBytes: Math.max(...task.expected.map((e) => e.length)),
      });
      const onBytes = (count: number) => {
        report.bytes += count;
        progress.bytes(count, task.path);
      };
      const { stat, digest } = object.toFile && canFillFile(target)
        ? await fillVerified(target, task, object.toFile, hashing, onBytes)
        : await streamVerified(target, task, object, hashing, (count) => {
          onBytes(count);
          sinceCollect += count;
          if (sinceCollect >= COLLECT_EVERY_BYTES) {
            sinceCollect = 0;
            collectGarbage();
          }
        });
      journal?.record(stat, digest.sha256);
      report.downloaded.push(task.path);
      if (++sinceSave >= 64) {
        sinceSave = 0;
        await journal?.save();
      }
    } catch (error) {
      if (error instanceof NotFoundError) report.missing.push(task.path);
      else report.failed.push({ path: task.path, error: rootCause(error) });
    }
    progress.fileDone();
  }, abortable).finally(async () => {
    hashing.close();
    // One filesystem flush for all the files written above, before the journal (and, later, the
    // manifests) say they are there.
    if (report.downloaded.length > 0 && canFlush(target)) await target.flush();
    await journal?.save();
  });
  progress.tick(undefined, true);
  for (const list of [report.downloaded, report.skipped, report.missing, report.conflicts]) {
    list.sort();
  }
  report.failed.sort((a, b) => (a.path < b.path ? -1 : 1));
  return report;
}

/** A verified download through a stream: hashed as it passes, on its way into the file. */
async function streamVerified(
  target: Storage,
  task: FileTask,
  object: StoredObject,
  hashing: HashPool,
  onBytes: (count: number) => void,
): Promise<{ stat: FileStat; digest: VerifiedDigest }> {
  const verified = verifiedBody(bodyStream(object), task.expected, task.path, {
    hasher: hashing.hasher({ sha512: needsSha512(task.expected) }),
    onBytes,
  });
  const stat = await target.write(task.path, verified.body, { deferSync: true });
  return { stat, digest: await verified.digest };
}

/**
 * A verified download that the runtime copies into the temporary file itself (a quarter of the
 * CPU of the stream), then hashed from that file on a worker: the file becomes visible only
 * after its length, SHA-256 and SHA-512 matched, exactly as on the stream path.
 */
async function fillVerified(
  target: Storage & FileFillStorage,
  task: FileTask,
  toFile: FileTransfer,
  hashing: HashPool,
  onBytes: (count: number) => void,
): Promise<{ stat: FileStat; digest: VerifiedDigest }> {
  let digest: VerifiedDigest | undefined;
  const stat = await target.fillFile(task.path, async (temp) => {
    const length = await toFile(temp, onBytes);
    const hashes = await hashing.hashFile(temp, { sha512: needsSha512(task.expected) });
    const actual = { length, ...hashes };
    checkDigest(task.expected, task.path, actual);
    digest = actual;
  }, { deferSync: true });
  return { stat, digest: digest! };
}

function dedupe(tasks: readonly FileTask[]): FileTask[] {
  const byPath = new Map<string, FileTask>();
  for (const task of tasks) {
    const seen = byPath.get(task.path);
    if (!seen) {
      byPath.set(task.path, { ...task, expected: [...task.expected] });
      continue;
    }
    // Two manifests name the same file: it must satisfy both, so keep what they agree on.
    seen.expected = seen.expected.filter((e) =>
      task.expected.some((t) =>
        t.length === e.length && t.sha256 === e.sha256 &&
        (t.sha512 === undefined || e.sha512 === undefined || t.sha512 === e.sha512)
      )
    );
    if (seen.expected.length === 0) seen.expected = [...task.expected];
    seen.replace = (seen.replace ?? false) && (task.replace ?? false);
  }
  return [...byPath.values()];
}

async function existingState(
  target: Storage,
  task: FileTask,
  journal: VerifiedJournal | undefined,
): Promise<"absent" | "match" | "differs"> {
  let stat: FileStat;
  try {
    stat = await target.stat(task.path);
  } catch (error) {
    if (error instanceof NotFoundError) return "absent";
    throw error;
  }
  const candidates = (task.current ?? task.expected).filter((e) => e.length === stat.size);
  if (candidates.length === 0) return "differs";
  let sha256 = journal?.lookup(stat);
  if (sha256 === undefined) {
    sha256 = await hashStored(target, task.path);
    journal?.record(stat, sha256);
  }
  return candidates.some((e) => e.sha256 === sha256) ? "match" : "differs";
}

async function hashStored(storage: Storage, path: string): Promise<string> {
  return (await hashStream(bodyStream(await storage.read(path)), ["sha256"])).sha256;
}

/** Runs `work` over `items` with at most `limit` in flight; stops starting work on abort. */

function progressReporter(
  onProgress: ((event: ProgressEvent) => void) | undefined,
  start: { filesTotal: number; filesDone: number; bytesTotal: number },
) {
  let filesDone = start.filesDone;
  let bytesDone = 0;
  let last = 0;
  const tick = (current: string | undefined, force = false) => {
    if (!onProgress) return;
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    onProgress({
      filesDone,
      filesTotal: start.filesTotal,
      bytesDone,
      bytesTotal: start.bytesTotal,
      ...(current === undefined ? {} : { current }),
    });
  };
  return {
    tick,
    bytes(count: number, current: string) {
      bytesDone += count;
      tick(current);
    },
    fileDone() {
      filesDone++;
      tick(undefined);
    },
  };
}

/**
 * The error worth reporting: a storage write wraps what failed its input stream (a verification
 * or download error), and that inner error is the one that says what went wrong.
 */
function rootCause(error: unknown): Error {
  let current = error;
  while (current instanceof StorageError && current.cause instanceof Error) {
    current = current.cause;
  }
  return current instanceof Error ? current : new Error(String(current));
}
