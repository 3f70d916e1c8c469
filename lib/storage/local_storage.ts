import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants as fsConstants, lstatSync, realpathSync, statSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import {
  AlreadyExistsError,
  NotFoundError,
  PathError,
  StorageError,
  TooLargeError,
} from "../errors.ts";
import { fileBody, fileLocksSupported, tryLockFile } from "../runtime.ts";
import { checkPath, checkPrefix } from "./check_path.ts";
import { abortableBody } from "./abortable_body.ts";
import type {
  FileFillStorage,
  FileStat,
  FlushableStorage,
  ReadOptions,
  RequestOptions,
  Storage,
  StorageLock,
  StoredObject,
  SweepOptions,
  SyncStatStorage,
  WriteData,
  WriteOptions,
} from "./storage.ts";
import { sweepTempFiles } from "./sweep_temp_files.ts";

/** Temporary files carry this prefix; they are never listed and never served. */
export const TEMP_PREFIX = ".ferry-tmp-";

/**
 * Storage on a local directory.
 *
 * - Paths are checked by {@linkcode checkPath}, then resolved through symlinks: anything whose
 *   real location is outside the root's real location is refused, so a symlink planted inside a
 *   mirror cannot expose /etc.
 * - Writes go to a temporary file in the destination directory, are fsynced, then renamed over
 *   the target (or hard-linked for `ifAbsent`, which fails atomically if the target exists), and
 *   the directory is fsynced: after a crash the target is the old file or the new one.
 */
export class LocalStorage implements Storage, SyncStatStorage, FlushableStorage, FileFillStorage {
  readonly location: string;
  #realRoot: string | undefined;

  /**
   * flock(2) on the file at `path` (created empty with mode 0600 if absent, like TiUP's
   * `<mirror>/lock`, and never removed: removing a lock file that others may have open lets two
   * holders lock two different files). Works across processes, against TiUP's writer, and on NFS
   * where the kernel maps flock to NFS locks. Absent where the runtime cannot flock (Node).
   */
  readonly tryLock?: (path: string) => Promise<StorageLock | undefined>;

  constructor(root: string) {
    this.location = nodePath.resolve(root);
    if (fileLocksSupported()) this.tryLock = (path) => this.#tryLock(path);
  }

  // deno-lint-ignore require-await
  async stat(path: string, options: RequestOptions = {}): Promise<FileStat> {
    options.signal?.throwIfAborted();
    return this.#statFile(path).stat;
  }

  /**
   * The answer of `stat` without a promise: one lstat per path segment, ~25 µs, so the mirror
   * server answers hot small files without an await.
   */
  statSync(path: string): FileStat {
    return this.#statFile(path).stat;
  }

  // deno-lint-ignore require-await
  async read(path: string, options: ReadOptions = {}): Promise<StoredObject> {
    options.signal?.throwIfAborted();
    const { stat, file } = this.#statFile(path);
    if (options.maxBytes !== undefined && stat.size > options.maxBytes) {
      throw new TooLargeError(path, options.maxBytes);
    }
    const { start, end } = options.range ?? { start: 0, end: stat.size - 1 };
    return { stat, body: abortableBody(fileBody(file, start, end), options.signal) };
  }

  async *list(prefix: string, options: RequestOptions = {}): AsyncIterable<FileStat> {
    checkPrefix(prefix);
    options.signal?.throwIfAborted();
    const slash = prefix.lastIndexOf("/");
    const directory = slash === -1 ? "" : prefix.slice(0, slash);
    const start = directory === "" ? this.location : nodePath.join(this.location, directory);
    const found: FileStat[] = [];
    await this.#walk(start, directory, prefix, found);
    found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    yield* found;
  }

  async #walk(dir: string, relative: string, prefix: string, found: FileStat[]): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isCode(error, "ENOENT") || isCode(error, "ENOTDIR")) return;
      throw new StorageError(`Cannot list "${dir}"`, { cause: error });
    }
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const key = relative === "" ? entry.name : `${relative}/${entry.name}`;
      const full = nodePath.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) {
          await this.#walk(full, key, prefix, found);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await fs.stat(full).catch(() => undefined);
        if (info) found.push({ path: key, size: info.size, modified: info.mtime });
      }
    }
  }

  async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<FileStat> {
    return await this.#writeThroughTemp(path, options, (handle) =>
      writeTempFile(handle, data, {
        mode: options.mode ?? 0o644,
        durable: options.deferSync !== true,
        signal: options.signal,
      }));
  }

  /** See {@linkcode FileFillStorage.fillFile}: `fill` writes the temporary file itself. */
  async fillFile(
    path: string,
    fill: (tempPath: string) => Promise<void>,
    options: WriteOptions = {},
  ): Promise<FileStat> {
    return await this.#writeThroughTemp(path, options, async (handle, temp) => {
      await handle.close();
      await fill(temp);
      const filled = await fs.open(temp, "r+");
      try {
        await filled.chmod(options.mode ?? 0o644);
        if (options.deferSync !== true) await filled.sync();
      } finally {
        await filled.close();
      }
    });
  }

  /**
   * The atomic write both ways share: a fresh temporary file beside the target, filled by
   * `fill` (which closes the handle), then renamed (or linked, `ifAbsent`) over the target.
   */
  async #writeThroughTemp(
    path: string,
    options: WriteOptions,
    fill: (handle: fs.FileHandle, temp: string) => Promise<void>,
  ): Promise<FileStat> {
    checkPath(path);
    options.signal?.throwIfAborted();
    const target = await this.#resolveForWrite(path);
    const dir = nodePath.dirname(target);
    const temp = nodePath.join(dir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
    try {
      // The directory usually exists (a clone writes a thousand files into one): it is created
      // only when creating the temporary file finds it missing, saving a call per write.
      const handle = await openTempFile(temp, options.mode ?? 0o644).catch(async (error) => {
        if (!isCode(error, "ENOENT")) throw error;
        await fs.mkdir(dir, { recursive: true }).catch((mkdirError) => {
          throw new StorageError(`Cannot write "${path}" in "${this.location}"`, {
            cause: mkdirError,
          });
        });
        return await openTempFile(temp, options.mode ?? 0o644);
      });
      await fill(handle, temp);
      // The last moment an abort can still leave the old object in place.
      options.signal?.throwIfAborted();
      if (options.ifAbsent) {
        // link(2) fails with EEXIST if the target exists: an atomic "create only if absent".
        await fs.link(temp, target).catch((error) => {
          if (isCode(error, "EEXIST")) throw new AlreadyExistsError(path);
          throw error;
        });
        await fs.unlink(temp);
      } else {
        await fs.rename(temp, target);
      }
      if (options.deferSync !== true) await fsyncDirectory(dir);
    } catch (error) {
      // (Fails with ENOTDIR when `dir` is a file: there is then nothing to remove.)
      await fs.rm(temp, { force: true }).catch(() => {});
      // Our own errors, and those of the data source (a download that failed or went over its
      // cap mid-stream), pass through unchanged so callers and exit codes see what happened.
      if (!isSystemError(error)) throw error;
      throw new StorageError(`Cannot write "${path}" in "${this.location}"`, { cause: error });
    }
    return await this.stat(path);
  }

  /**
   * A second name for the same file: hard-linked to a temporary name beside `to`, then renamed
   * over it, so readers of `to` see the old file or the new one. The two names share their bytes
   * (`from` is never rewritten in place: writes replace by rename), so 50 MB cost no copy.
   * Across filesystems (a mount inside the root) the file is copied instead.
   */
  async copy(from: string, to: string): Promise<FileStat> {
    const source = this.#resolveExisting(from);
    checkPath(to);
    const target = await this.#resolveForWrite(to);
    const dir = nodePath.dirname(target);
    const temp = nodePath.join(dir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
    try {
      await fs.mkdir(dir, { recursive: true });
      await fs.link(source, temp).catch(async (error) => {
        if (!isCode(error, "EXDEV") && !isCode(error, "EPERM") && !isCode(error, "ENOTSUP")) {
          throw error;
        }
        await fs.copyFile(source, temp, fsConstants.COPYFILE_EXCL);
        const handle = await fs.open(temp, "r+");
        await handle.sync().finally(() => handle.close());
      });
      await fs.rename(temp, target);
      // rename(2) of a hard link onto another link of the same file does nothing and leaves
      // the temporary name: `to` already was `from`.
      await fs.rm(temp, { force: true });
      await fsyncDirectory(dir);
    } catch (error) {
      await fs.rm(temp, { force: true });
      if (!isSystemError(error)) throw error;
      throw new StorageError(`Cannot copy "${from}" to "${to}" in "${this.location}"`, {
        cause: error,
      });
    }
    return await this.stat(to);
  }

  async delete(path: string, options: RequestOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    const file = this.#resolveExisting(path);
    await fs.unlink(file).catch((error) => rethrow(error, path));
  }
  async #tryLock(path: string): Promise<StorageLock | undefined> {
    checkPath(path);
    const target = await this.#resolveForWrite(path);
    await fs.mkdir(nodePath.dirname(target), { recursive: true });
    let lock;
    try {
      lock = await tryLockFile(target);
    } catch (error) {
      throw new StorageError(`Cannot lock "${path}" in "${this.location}"`, { cause: error });
    }
    if (!lock) return undefined;
    return { note: (text) => lock.write(text), release: () => lock.release() };
  }

  /** Removes the {@linkcode TEMP_PREFIX} files interrupted writes left (see sweepTempFiles). */
  async sweepTempFiles(options: SweepOptions): Promise<string[]> {
    let root;
    try {
      root = this.#root();
    } catch {
      return [];
    }
    return await sweepTempFiles(root, { prefix: TEMP_PREFIX, before: options.before });
  }

  /**
   * Flushes the whole filesystem under the root with syncfs(2) (`sync -f`): one call instead of
   * an fsync per file after `deferSync` writes. Falls back to sync(2) where `-f` is unknown.
   */
  async flush(): Promise<void> {
    const run = (args: string[]) =>
      new Promise<void>((resolve, reject) =>
        execFile("sync", args, { timeout: 600_000 }, (error) => error ? reject(error) : resolve())
      );
    await run(["-f", this.location]).catch(() => run([])).catch((error) => {
      throw new StorageError(`Cannot flush "${this.location}" to disk`, { cause: error });
    });
  }

  /** The real path of the storage root (not cached while the root does not exist yet). */
  #root(): string {
    this.#realRoot ??= realpathSync.native(this.location);
    return this.#realRoot;
  }

  /**
   * Resolves and stats an existing file. Metadata lookups use the synchronous calls on purpose:
   * on a local disk they take microseconds, while each promise-based call costs a thread-pool
   * round trip (~25 µs) — realpath + stat that way was most of the mirror server's time per
   * request for a small manifest.
   */
  #statFile(path: string): { stat: FileStat; file: string } {
    checkPath(path);
    // Fast path: lstat each segment below the root. With no symlink on the way, the joined path
    // is already the real path (inside the root by construction) and the last lstat is the
    // file's stat: one syscall per segment instead of realpath's many. Any symlink falls back to
    // realpath and the confinement check below.
    const root = this.#rootFor(path);
    const segments = path.split("/");
    let current = root === "/" ? "" : root;
    for (let i = 0; i < segments.length; i++) {
      current = `${current}/${segments[i]}`;
      let info;
      try {
        info = lstatSync(current);
      } catch (error) {
        rethrow(error, path);
      }
      if (info.isSymbolicLink()) return this.#statThroughLinks(path);
      if (i < segments.length - 1) {
        if (!info.isDirectory()) throw new NotFoundError(path);
        continue;
      }
      if (!info.isFile()) throw new NotFoundError(path);
      return {
        stat: { path, size: info.size, modified: info.mtime, identity: identityOf(info) },
        file: current,
      };
    }
    throw new NotFoundError(path);
  }

  #statThroughLinks(path: string): { stat: FileStat; file: string } {
    const file = this.#resolveExisting(path);
    let info;
    try {
      info = statSync(file);
    } catch (error) {
      rethrow(error, path);
    }
    if (!info.isFile()) throw new NotFoundError(path);
    const resolvedPath = nodePath.relative(this.#root(), file).split(nodePath.sep).join("/");
    const stat: FileStat = {
      path,
      size: info.size,
      modified: info.mtime,
      identity: identityOf(info),
    };
    if (resolvedPath !== path) stat.resolvedPath = resolvedPath;
    return { stat, file };
  }

  /** The root's real path; a missing root means every path is missing. */
  #rootFor(path: string): string {
    try {
      return this.#root();
    } catch (error) {
      if (isCode(error, "ENOENT")) throw new NotFoundError(path);
      throw new StorageError(`Cannot open "${this.location}"`, { cause: error });
    }
  }

  #resolveExisting(path: string): string {
    checkPath(path);
    const root = this.#rootFor(path);
    const joined = nodePath.join(root, path);
    let real: string;
    try {
      real = realpathSync.native(joined);
    } catch (error) {
      rethrow(error, path);
    }
    if (!isInside(root, real)) throw new PathError(path, "it leads outside the storage root");
    return real;
  }

  async #resolveForWrite(path: string): Promise<string> {
    // Once the root's real path is known, the root exists: no mkdir per write.
    if (this.#realRoot === undefined) await fs.mkdir(this.location, { recursive: true });
    const root = this.#root();
    const joined = nodePath.join(root, path);
    // The deepest existing ancestor must resolve inside the root, so a symlinked directory
    // cannot redirect a write elsewhere. An existing symlink at the target itself is replaced
    // by rename (it is the link that is replaced, not what it points at).
    let probe = nodePath.dirname(joined);
    while (true) {
      const real = await fs.realpath(probe).catch((error) => {
        if (isCode(error, "ENOENT")) return undefined;
        throw error;
      });
      if (real !== undefined) {
        if (!isInside(root, real)) throw new PathError(path, "it leads outside the storage root");
        break;
      }
      probe = nodePath.dirname(probe);
    }
    return joined;
  }
}

function openTempFile(temp: string, mode: number): Promise<fs.FileHandle> {
  return fs.open(temp, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, mode);
}

/** Writes `data` through `handle` (and closes it); fsyncs when `durable`. */
async function writeTempFile(
  handle: fs.FileHandle,
  data: WriteData,
  { mode, durable, signal }: { mode: number; durable: boolean; signal: AbortSignal | undefined },
): Promise<void> {
  try {
    if (typeof data === "string" || data instanceof Uint8Array) {
      await handle.writeFile(data);
    } else {
      // Straight to the handle (pipeline() into createWriteStream({ autoClose: false }) never
      // settles: that stream emits no "close", which pipeline waits for), gathering network-sized
      // chunks into writes of about 1 MiB: far fewer syscalls and awaits per file.
      const reader = data.getReader();
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      const drain = async () => {
        let buffers = pending;
        pending = [];
        pendingBytes = 0;
        while (buffers.length > 0) {
          const { bytesWritten } = await handle.writev(buffers);
          buffers = skipWritten(buffers, bytesWritten);
        }
      };
      try {
        while (true) {
          const { done, value } = await reader.read();
          if (done) break;
          signal?.throwIfAborted();
          pending.push(value);
          pendingBytes += value.length;
          if (pendingBytes >= 1024 * 1024) await drain();
        }
        await drain();
      } catch (error) {
        await reader.cancel(error).catch(() => {});
        throw error;
      } finally {
        reader.releaseLock();
      }
    }
    await handle.chmod(mode);
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What is left of `buffers` after the first `written` bytes went out (writev may be short). */
function skipWritten(buffers: Uint8Array[], written: number): Uint8Array[] {
  let index = 0;
  while (index < buffers.length && written >= buffers[index]!.length) {
    written -= buffers[index]!.length;
    index++;
  }
  const rest = buffers.slice(index);
  if (rest.length > 0 && written > 0) rest[0] = rest[0]!.subarray(written);
  return rest;
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r").catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => {});
  } finally {
    await handle.close();
  }
}

/** Inode and change time: a rename over the file or a write changes them, utimes cannot. */
function identityOf(info: { ino: number; ctimeMs: number }): string {
  return `${info.ino}-${info.ctimeMs}`;
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith("/") ? root : `${root}/`);
}

/** An error from the operating system (it has an errno code such as "ENOSPC"). */
function isSystemError(error: unknown): boolean {
  return typeof (error as { code?: unknown })?.code === "string" &&
    !(error instanceof StorageError);
}

function isCode(error: unknown, code: string): boolean {
  return (error as { code?: string })?.code === code;
}

function rethrow(error: unknown, path: string): never {
  if (isCode(error, "ENOENT") || isCode(error, "ENOTDIR")) {
    throw new NotFoundError(path, { cause: error });
  }
  if (isCode(error, "ELOOP")) throw new PathError(path, "it is a symlink loop");
  throw new StorageError(`Cannot read "${path}"`, { cause: error });
}
