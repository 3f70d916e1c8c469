/**
 * The storage interface every mirror, cache and profile sits on. It is object-store shaped
 * (flat keys with "/" in them, whole-object writes, conditional create) so that an S3 backend
 * can implement it as directly as local disk does.
 *
 * @module
 */
import type { FileTransfer } from "../http/body_file_transfer.ts";

/** What a backend knows about one stored object. */
export interface FileStat {
  /** The key, relative and forward-slash separated: "bin/root.json". */
  path: string;
  size: number;
  modified: Date;
  /**
   * The key the object really lives at, when the backend reached it through links (a symlink
   * inside a local directory: `pubkeys/a.json` → `keys/a.json`). Absent when it is `path`. Rules
   * about which keys may be exposed apply to this one.
   */
  resolvedPath?: string;
  /**
   * Where the backend can tell: changes whenever the object is replaced or modified, even at the
   * same size and mtime (local disk: inode and ctime, which no utimes can set back). Servers use
   * it to revalidate what they keep in memory.
   */
  identity?: string;
  /**
   * The backend's own HTTP entity tag for these bytes (an S3 ETag, quoted), where it has one:
   * the same on every host that reads the object, so servers sharing a bucket can answer with
   * it and a client may revalidate against any of them.
   */
  etag?: string;
}

/** An inclusive byte range, as in HTTP: `start` through `end`. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Options every request to a backend takes. */
export interface RequestOptions {
  /**
   * Stops the request (and, for reads, the body) when aborted: the promise or stream fails with
   * the signal's reason. A write that is aborted leaves the old object, as any failed write does.
   */
  signal?: AbortSignal | undefined;
}

/** Options for {@linkcode StorageReader.read}. */
export interface ReadOptions extends RequestOptions {
  /** Read only these bytes. Must lie within the object: callers check against `stat` first. */
  range?: ByteRange;
  /** Refuse (TooLargeError) when the object is larger than this many bytes. */
  maxBytes?: number;
}

/**
 * The bytes of a stored object. `body` is a stream or, where the backend can do better, a Blob
 * that a server can hand to the runtime as-is (Bun sends a file Blob with sendfile).
 */
export interface StoredObject {
  stat: FileStat;
  body: ReadableStream<Uint8Array> | Blob;
  /**
   * The same bytes copied into a local file by the runtime, where it can (an HTTP body on Bun):
   * far less CPU than reading `body`, under the same cap and timeouts. Use one or the other.
   */
  toFile?: FileTransfer;
}

/** The read role: local disk, HTTP mirrors, memory, S3. */
export interface StorageReader {
  /** Where this storage is, for messages: a directory or a URL. */
  readonly location: string;
  /** Throws NotFoundError when the path does not exist. */
  stat(path: string, options?: RequestOptions): Promise<FileStat>;
  /** Throws NotFoundError when the path does not exist. */
  read(path: string, options?: ReadOptions): Promise<StoredObject>;
}

/**
 * The listing capability. Every writable backend has it; a reader may lack it (an HTTP mirror
 * has no index of its files), so code that must list asks for this type or checks
 * {@linkcode canList} instead of catching an error.
 */
export interface ListableStorage {
  /** Every object whose key starts with `prefix` ("" for all), in key order. */
  list(prefix: string, options?: RequestOptions): AsyncIterable<FileStat>;
}

/** True when `storage` can list its objects. */
export function canList<T extends StorageReader>(storage: T): storage is T & ListableStorage {
  return typeof (storage as Partial<ListableStorage>).list === "function";
}

/**
 * The synchronous stat capability: the same answer as `stat`, without a promise. Only backends
 * that can answer without waiting (local disk) have it; servers use it to answer hot small files
 * without an await.
 */
export interface SyncStatStorage {
  statSync(path: string): FileStat;
}

/** True when `storage` can stat without waiting. */
export function canStatSync<T extends StorageReader>(storage: T): storage is T & SyncStatStorage {
  return typeof (storage as Partial<SyncStatStorage>).statSync === "function";
}

/** What can be written: bytes, text (UTF-8) or a stream that is consumed once. */
export type WriteData = Uint8Array | string | ReadableStream<Uint8Array>;

/** Options for {@linkcode Storage.write}. */
export interface WriteOptions extends RequestOptions {
  /** Fail with AlreadyExistsError instead of replacing an existing object (S3 If-None-Match: *). */
  ifAbsent?: boolean;
  /** POSIX file mode where the backend has one (0o600 for private keys). */
  mode?: number;
  /**
   * Skip the per-object fsync: the write is still atomic (readers see the old object or the new
   * one), but durable only after {@linkcode FlushableStorage.flush}. For bulk downloads (clone),
   * where a thousand fsyncs cost more than the transfer; manifests that point at the objects are
   * written after the flush. Backends whose every write is durable when it returns ignore it.
   */
  deferSync?: boolean;
}

/** The capability of backends that honour `deferSync`: a flush makes those writes durable. */
export interface FlushableStorage {
  /** Makes every write so far durable (after `deferSync` writes). */
  flush(): Promise<void>;
}

/**
 * The capability of backends whose objects are local files: a write whose bytes something else
 * puts into a temporary file (the runtime's copy of a download, {@linkcode StoredObject.toFile}).
 */
export interface FileFillStorage {
  /**
   * Writes `path` by letting `fill` write the file at `tempPath` (created empty, beside the
   * target), then checks nothing itself: the file becomes visible, atomically as with `write`,
   * only once `fill` resolves (so it verifies there), and is removed when `fill` throws.
   */
  fillFile(
    path: string,
    fill: (tempPath: string) => Promise<void>,
    options?: WriteOptions,
  ): Promise<FileStat>;
}

/** True when `storage` can have a file filled in place (see {@linkcode FileFillStorage}). */
export function canFillFile<T extends object>(storage: T): storage is T & FileFillStorage {
  return typeof (storage as Partial<FileFillStorage>).fillFile === "function";
}

/** True when `storage` defers syncs and must be flushed before what points at its writes. */
export function canFlush<T extends object>(storage: T): storage is T & FlushableStorage {
  return typeof (storage as Partial<FlushableStorage>).flush === "function";
}

/**
 * The compare-and-swap capability: replace an object only while it is still the one that was
 * read, atomically on the server (S3 `If-Match`). Leases on object storage are built on it.
 */
export interface ReplaceIfMatchStorage {
  /**
   * Replaces `path` with `data` if its `identity` (from stat or read) is still `identity`;
   * undefined, writing nothing, when it changed or is gone.
   */
  replaceIfMatch(
    path: string,
    data: Uint8Array | string,
    identity: string,
    options?: RequestOptions,
  ): Promise<FileStat | undefined>;
}

/** True when `storage` can replace an object conditionally on its identity. */
export function canReplaceIfMatch<T extends object>(
  storage: T,
): storage is T & ReplaceIfMatchStorage {
  return typeof (storage as Partial<ReplaceIfMatchStorage>).replaceIfMatch === "function";
}

/** Options for {@linkcode PresignStorage.presignGet}. */
export interface PresignOptions {
  /** How long the URL stays valid, in seconds. */
  expiresInSeconds: number;
  /**
   * The origin clients reach the object store by (`https://s3.example.com`), when it is not the
   * one this process uses: the URL is signed for that host, so a client's request through it
   * verifies.
   */
  origin?: string;
}

/**
 * The presigning capability of object stores: a URL anyone holding it may GET (Range included)
 * until it expires, so that a server can redirect a client to the bytes instead of relaying them.
 */
export interface PresignStorage {
  /** A GET URL for `path`, signed in its query string (SigV4 on S3); it does not check existence. */
  presignGet(path: string, options: PresignOptions): Promise<string>;
}

/** True when `storage` can hand out presigned GET URLs. */
export function canPresign<T extends object>(storage: T): storage is T & PresignStorage {
  return typeof (storage as Partial<PresignStorage>).presignGet === "function";
}

/** An exclusive lock on a path of a storage (flock(2) on local disk); see `Storage.tryLock`. */
export interface StorageLock {
  /** Replaces the lock file's content in place (who holds it, for other writers' messages). */
  note(text: string): Promise<void>;
  /** Drops the lock (idempotent). The lock file stays. */
  release(): Promise<void>;
}

/** Options for {@linkcode Storage.sweepTempFiles}. */
export interface SweepOptions {
  /** Remove only temporary files last modified before this time (a live writer's are newer). */
  before: Date;
}

/**
 * The write role. Writes are atomic: a reader sees the old object or the new one, never a mix.
 * Every writable backend can list (writers find their keys and sweep their caches by listing).
 */
export interface Storage extends StorageReader, ListableStorage {
  write(path: string, data: WriteData, options?: WriteOptions): Promise<FileStat>;
  /** Removes an object; a missing one throws NotFoundError. For cache eviction only. */
  delete(path: string, options?: RequestOptions): Promise<void>;
  /**
   * Tries to take an exclusive lock on `path` without waiting: undefined when another holder
   * has it. The operating system drops it when the holder dies, so a crash never leaves a stale
   * lock. Backends without such a lock (memory, object stores) omit it; callers then fall back
   * to a conditional-create lock file.
   */
  tryLock?(path: string): Promise<StorageLock | undefined>;
  /**
   * Removes the temporary files that interrupted writes left behind (never listed, never
   * served), if modified before `before`; returns their paths. Backends whose writes leave none
   * omit it.
   */
  sweepTempFiles?(options: SweepOptions): Promise<string[]>;
  /**
   * Makes `to` hold the bytes of `from`, replacing `to` atomically, without the bytes passing
   * through the caller: a hard link on local disk, a server-side copy on object stores. Only
   * backends that can do better than read-then-write offer it; a missing `from` throws
   * NotFoundError.
   */
  copy?(from: string, to: string): Promise<FileStat>;
}
