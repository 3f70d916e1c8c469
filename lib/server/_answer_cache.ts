import type { FileStat } from "../storage/storage.ts";

/** The file a mirror's writer writes last: its arrival means everything below may be newer. */
const COMMIT_POINT = "timestamp.json";

/** An epoch no clock reaches (`epoch()` is -1 or more): the entry is revalidated first. */
const STALE = -2;

/** A small file kept in memory with everything its 200 answer needs, headers included. */
export interface CachedFile {
  /** The storage key it was read from. */
  readonly stat: FileStat;
  readonly etag: string;
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** The complete headers of the 200 answer, built once. */
  readonly headers: Headers;
  /** The revalidation epoch in which its stat was last seen unchanged. */
  epoch: number;
  /** Set when evicted: raw paths that still point here must not use it. */
  evicted: boolean;
}

/** Options for {@linkcode AnswerCache}. */
export interface AnswerCacheOptions {
  /** Files above this size are not kept. */
  maxFileBytes: number;
  /** Total bytes kept; least recently filled entries go first. */
  maxTotalBytes: number;
  /**
   * How long an entry is trusted without a stat, in ms. 0: each use stats the file. All entries
   * expire at the same epoch boundary, so a mirror changed on disk is seen whole, not file by file.
   */
  revalidateMs: number;
  /** Milliseconds from any fixed origin (monotonic in production, injected by tests). */
  clock: () => number;
}

/**
 * Validated answers for small files, looked up by the raw request path so that a hot GET costs
 * two map lookups and no system call. Safety rests on three rules:
 *
 * - an entry is only made from a read the privacy rule already passed (the caller's job), and
 *   only if nothing changed while it was read (the generation check in `keep`);
 * - `invalidateAll()` (any change notification from the directory) drops every entry, and
 *   fills that were under way when it happened are not kept;
 * - an entry not validated in the current epoch is re-stat'ed before use: a different size,
 *   mtime, identity (inode, ctime) or resolved path drops every entry, since the mirror changed;
 * - taking in `timestamp.json` makes every other entry stale (revalidated before its next use)
 *   and refuses fills and revalidations begun before. The writer commits it last (tarballs →
 *   manifests → snapshot → timestamp), so what is validated after it is at least as new as what
 *   it names: a client never gets a timestamp whose snapshot this cache still holds in an older
 *   version (on a shared bucket, or NFS, where no notification says the snapshot changed).
 */
export class AnswerCache {
  readonly #byPath = new Map<string, CachedFile>();
  readonly #byRaw = new Map<string, CachedFile>();
  readonly #options: AnswerCacheOptions;
  #total = 0;
  #generation = 0;

  constructor(options: AnswerCacheOptions) {
    this.#options = options;
  }

  /** Files up to this size may be kept. */
  get maxFileBytes(): number {
    return this.#options.maxFileBytes;
  }

  /** Counts invalidations: a fill started in an older generation is not kept. */
  get generation(): number {
    return this.#generation;
  }

  /** The current revalidation epoch (-1 when every use revalidates). */
  epoch(): number {
    const every = this.#options.revalidateMs;
    return every > 0 ? Math.floor(this.#options.clock() / every) : -1;
  }

  /**
   * The entry a raw request path reached before, if it is still valid: validated in this epoch,
   * or re-stat'ed now with `statSync` and unchanged. Undefined sends the request the slow way.
   */
  lookup(raw: string, statSync: ((path: string) => FileStat) | undefined): CachedFile | undefined {
    const entry = this.#byRaw.get(raw);
    if (entry === undefined) return undefined;
    if (entry.evicted) {
      this.#byRaw.delete(raw);
      return undefined;
    }
    const epoch = this.epoch();
    if (epoch !== -1 && entry.epoch === epoch) return entry;
    if (statSync === undefined) return undefined; // the slow path stats and revalidates
    let stat: FileStat;
    try {
      stat = statSync(entry.stat.path);
    } catch {
      this.invalidateAll(); // gone or unreadable: the mirror changed, the slow path decides
      return undefined;
    }
    if (!sameFile(stat, entry.stat)) {
      this.invalidateAll();
      return undefined;
    }
    entry.epoch = epoch;
    return entry;
  }

  /**
   * The entry for a file just stat'ed on the slow path (no I/O), if it still holds that file;
   * the raw path that led here is remembered for `lookup`. A stat begun before the last
   * invalidation (`generation`, read before it) validates nothing: undefined.
   */
  match(
    raw: string,
    stat: FileStat,
    at: { epoch: number; generation: number },
  ): CachedFile | undefined {
    const entry = this.#byPath.get(stat.path);
    if (entry === undefined || at.generation !== this.#generation) return undefined;
    const epoch = at.epoch;
    if (!sameFile(stat, entry.stat)) {
      this.invalidateAll();
      return undefined;
    }
    entry.epoch = epoch;
    this.#linkRaw(raw, entry);
    return entry;
  }

  /**
   * Keeps a file read on the slow path, unless an invalidation happened since `generation` (the
   * value read before the stat): then the bytes may predate a change it announced.
   */
  keep(raw: string, entry: CachedFile, generation: number): void {
    if (generation !== this.#generation || entry.bytes.length > this.#options.maxFileBytes) {
      return;
    }
    if (entry.stat.path === COMMIT_POINT) this.#expireAll();
    const old = this.#byPath.get(entry.stat.path);
    if (old) this.#evict(entry.stat.path, old);
    this.#byPath.set(entry.stat.path, entry);
    this.#total += entry.bytes.length;
    for (const [path, oldest] of this.#byPath) {
      if (this.#total <= this.#options.maxTotalBytes) break;
      this.#evict(path, oldest);
    }
    if (!entry.evicted) this.#linkRaw(raw, entry);
  }

  /** True when an entry holds `path` (the storage key). */
  holds(path: string): boolean {
    return this.#byPath.has(path);
  }

  /** Drops every entry: something in the mirror changed. */
  invalidateAll(): void {
    this.#generation++;
    for (const entry of this.#byPath.values()) entry.evicted = true;
    this.#byPath.clear();
    this.#byRaw.clear();
    this.#total = 0;
  }

  /** Every entry must be revalidated before its next use; work under way is not kept. */
  #expireAll(): void {
    this.#generation++;
    for (const entry of this.#byPath.values()) entry.epoch = STALE;
  }

  #evict(path: string, entry: CachedFile): void {
    entry.evicted = true;
    this.#byPath.delete(path);
    this.#total -= entry.bytes.length;
  }

  #linkRaw(raw: string, entry: CachedFile): void {
    // Many spellings can reach one file (%-encoding, links); the map stays bounded.
    if (this.#byRaw.size >= 4096 && !this.#byRaw.has(raw)) this.#byRaw.clear();
    this.#byRaw.set(raw, entry);
  }
}

/** Size and mtime (what the ETag says), identity (a rename over it) and where it resolves. */
export function sameFile(a: FileStat, b: FileStat): boolean {
  return a.size === b.size && a.modified.getTime() === b.modified.getTime() &&
    a.identity === b.identity && a.resolvedPath === b.resolvedPath;
}
