import {
  AlreadyExistsError,
  HashMismatchError,
  LengthMismatchError,
  TooLargeError,
} from "../lib/errors.ts";
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { hashFile } from "../lib/format/hash.ts";
import { type FileTransfer, fileTransferOf } from "../lib/http/body_file_transfer.ts";
import { bodyStream } from "../lib/storage/read_bytes.ts";
import { canFillFile, type FileFillStorage, type Storage } from "../lib/storage/storage.ts";
import type { BlobLease, ElectBlobFetcher } from "./blob_election.ts";
import { cacheKeys } from "./cache_keys.ts";

/** Options for {@linkcode BlobFetcher}. */
export interface BlobFetcherOptions {
  /** Called once a verified blob is in the cache. */
  onCommitted?: (digest: string, size: number) => void;
  /** Called when a download fails or its bytes do not match the digest. */
  onRejected?: (digest: string, error: Error) => void;
  /** Called each time the downloads in flight have written about GROWTH_STEP more bytes. */
  onGrowth?: () => void;
  /**
   * The most bytes all downloads in flight may hold together (the cache's size limit): the
   * download whose next chunk would go over it is cut off.
   */
  maxInflightBytes?: number | undefined;
  /**
   * For a cache other replicas share: decides, before any upstream request, whether this
   * replica downloads a blob or waits for the one that does (see createBlobElection). Without
   * it, the downloads of one process are shared and the commit is a conditional create.
   */
  elect?: ElectBlobFetcher | undefined;
}

/** Limits of one download. */
export interface BlobFetchLimits {
  /**
   * The most bytes the blob may have: its size as a manifest declared it when known, else what
   * the cache can hold. A longer (or endless) body is cut off and never committed.
   */
  maxBytes?: number | undefined;
}

/** One client's view of a (possibly shared) cold download. */
export interface BlobTransfer {
  /** From the upstream's Content-Length, when it sent one. */
  size: number | undefined;
  /** The blob's bytes; errors (and stops one byte short) when the digest does not match. */
  body: ReadableStream<Uint8Array>;
  /** True when this request joined a download another request had started. */
  joined: boolean;
  /** Settles when the blob is committed to the cache (or rejects when it never will be). */
  committed: Promise<void>;
  /**
   * True when no byte will come before the commit (the blob goes to the cache file first, see
   * FILE_FIRST_MAX_BYTES): the caller may as well serve it from the cache once committed.
   */
  cacheFirst: boolean;
}

/** Opens the upstream response for a blob: a 200 with a body, or throws. */
export type OpenBlob = () => Promise<Response>;

/** Recent bytes kept in memory for clients that keep up with the download. */
const WINDOW_BYTES = 8 * 1024 * 1024;
/** Bytes queued for the cache write before the download waits for the disk. */
const STORAGE_QUEUE_BYTES = 8 * 1024 * 1024;
/**
 * The largest blob (by its Content-Length) that is copied into the cache file by the runtime
 * (Bun: socket to file, no JavaScript per chunk), hashed there, and only then served from the
 * cache, instead of being teed chunk by chunk through JavaScript streams to the client, the
 * cache and the hash. On a LAN that is faster (a cold 50 MB layer measured 0.18 s instead of
 * 0.31 s, and 0.15 s of CPU instead of 0.38 s), and the client never sees an unverified byte.
 * The price is the time to the first byte: the whole download. Up to 64 MiB that stays a few
 * seconds on a slow link; larger blobs stream, so a client of a multi-GB layer sees bytes at once.
 */
export const FILE_FIRST_MAX_BYTES = 64 * 1024 * 1024;
/** How often (in bytes written by downloads in flight) the cache size is checked again. */
export const GROWTH_STEP = 64 * 1024 * 1024;

/**
 * Fetches cold blobs into the cache with one upstream download per digest, however many clients
 * ask at once (distribution PR #3428 shows the N+1 downloads this avoids).
 *
 * The upstream stream is hashed and fed, chunk by chunk, to one Storage write and to every
 * client. The Storage write is ended only after the digest (and the announced length) matched,
 * and is aborted otherwise, so the cache never holds an unverified blob (the write is atomic:
 * LocalStorage renames a finished temporary file). Clients get bytes as they arrive from a
 * window of recent chunks, but the last byte is held back until the digest is verified: a blob
 * whose bytes do not match never completes at any client. A client that falls behind the window
 * (slow, or joined late) pauses until the blob is committed and continues from the cache.
 * Memory per download is bounded by the window and the write queue, whatever the blob size;
 * disk per download by its `maxBytes`, checked before each chunk is written (a body without
 * Content-Length may be endless), and for all downloads together by `maxInflightBytes`. Bytes
 * in flight are counted (`inflightBytes`) so the cache's size limit includes the temporary files
 * they are written to.
 *
 * Where the runtime can copy a body into a file itself and the cache can take a filled file
 * (Bun, LocalStorage), a blob of announced length up to FILE_FIRST_MAX_BYTES skips the streams:
 * it is copied into the cache's temporary file, hashed and synced there, and committed before
 * any client gets a byte (`cacheFirst`); its clients are then served from the cache.
 *
 * On a cache shared by replicas (`elect`), a download first wins the digest's lease; a replica
 * that loses waits for the winner's commit and serves the blob from the cache. The winner renews
 * the lease while it downloads and writes without a conditional create (object stores take one
 * only on a single PUT: a large blob goes up as a multipart upload, completed only once its
 * digest matched); before completing it proves it still holds the lease. One that lost it (too
 * slow to renew) elects again: it commits only with the lease back, and otherwise aborts its
 * upload and lets its clients continue from the other replica's commit.
 */
export class BlobFetcher {
  readonly #storage: Storage;
  readonly #options: BlobFetcherOptions;
  readonly #inflight = new Map<string, Download>();
  #inflightBytes = 0;
  #sinceGrowth = 0;

  constructor(storage: Storage, options: BlobFetcherOptions = {}) {
    this.#storage = storage;
    this.#options = options;
  }

  /** How many downloads are running. */
  get active(): number {
    return this.#inflight.size;
  }

  /** Bytes the downloads in flight have received (and written to temporary files) so far. */
  get inflightBytes(): number {
    return this.#inflightBytes;
  }

  /** True when `digest` is being downloaded right now. */
  isActive(digest: string): boolean {
    return this.#inflight.has(digest);
  }

  #release(download: Download): void {
    this.#inflightBytes -= download.counted;
    download.counted = 0;
  }

  /** Joins the download of `digest`, starting it with `open` when none is running. */
  async fetch(digest: string, open: OpenBlob, limits: BlobFetchLimits = {}): Promise<BlobTransfer> {
    let download = this.#inflight.get(digest);
    const joined = download !== undefined;
    if (!download) {
      const started: Download = new Download(
        digest,
        this.#storage,
        limits.maxBytes,
        (n) => this.#reserve(started, n),
      );
      download = started;
      this.#inflight.set(digest, started);
      const options: BlobFetcherOptions = {
        ...this.#options,
        onCommitted: (committed, size) => {
          this.#release(started); // the bytes are the cache's now, not in flight
          this.#options.onCommitted?.(committed, size);
        },
      };
      started.run(open, options).finally(() => {
        this.#inflight.delete(digest);
        this.#release(started);
      });
    }
    await download.ready;
    return {
      size: download.size,
      body: download.subscribe(),
      joined,
      committed: download.committed,
      cacheFirst: download.cacheFirst,
    };
  }

  /**
   * Counts `bytes` more in flight for `download`, or says why they may not be; a refused
   * download's bytes stop counting at once (it is being cut off), so the others may go on.
   */
  #reserve(download: Download, bytes: number): TooLargeError | undefined {
    const limit = this.#options.maxInflightBytes;
    if (limit !== undefined && this.#inflightBytes + bytes > limit) {
      this.#release(download);
      return new TooLargeError("the blob downloads in flight", limit);
    }
    download.counted += bytes;
    this.#inflightBytes += bytes;
    this.#sinceGrowth += bytes;
    if (this.#sinceGrowth >= GROWTH_STEP) {
      this.#sinceGrowth = 0;
      this.#options.onGrowth?.();
    }
    return undefined;
  }
}

class Download {
  size: number | undefined;
  /** Bytes received from the upstream so far. */
  received = 0;
  /** Of these, the bytes the fetcher counts as in flight. */
  counted = 0;
  verified = false;
  /** The blob goes to the cache file first; no byte is in the window before the commit. */
  cacheFirst = false;
  failure: Error | undefined;
  /** The most recent chunks. */
  window: { start: number; bytes: Uint8Array }[] = [];
  readonly ready: Promise<void>;
  readonly committed: Promise<void>;
  #resolveReady!: () => void;
  #rejectReady!: (error: Error) => void;
  #resolveCommitted!: () => void;
  #rejectCommitted!: (error: Error) => void;
  #waiters: (() => void)[] = [];

  constructor(
    readonly digest: string,
    readonly storage: Storage,
    readonly maxBytes: number | undefined,
    /** Asks for room for `bytes` more; an error when the downloads in flight have none. */
    readonly reserve: (bytes: number) => TooLargeError | undefined,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.committed = new Promise((resolve, reject) => {
      this.#resolveCommitted = resolve;
      this.#rejectCommitted = reject;
    });
    // Nobody may be listening; an unobserved rejection must not crash the process.
    this.ready.catch(() => {});
    this.committed.catch(() => {});
  }

  async run(open: OpenBlob, options: BlobFetcherOptions): Promise<void> {
    let toCache: ReadableStreamDefaultController<Uint8Array> | undefined;
    let wakeWriter: (() => void) | undefined;
    let lease: BlobLease | undefined;
    try {
      if (options.elect) {
        const election = await options.elect(this.digest);
        if (election.kind === "committed") return await this.#adoptCommitted();
        lease = election.lease;
      }
      const response = await open();
      const length = response.headers.get("content-length");
      this.size = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
      if (this.maxBytes !== undefined && this.size !== undefined && this.size > this.maxBytes) {
        await response.body?.cancel().catch(() => {});
        throw this.#tooLarge();
      }
      const toFile = fileTransferOf(response);
      if (
        toFile && lease === undefined && canFillFile(this.storage) && this.size !== undefined &&
        this.size <= FILE_FIRST_MAX_BYTES
      ) {
        return await this.#fetchToFile(this.storage, response, toFile, this.size, options);
      }
      const cacheStream = new ReadableStream<Uint8Array>({
        start: (controller) => {
          toCache = controller;
        },
        pull: () => {
          wakeWriter?.();
        },
      }, new ByteLengthQueuingStrategy({ highWaterMark: STORAGE_QUEUE_BYTES }));
      let cacheFailure: Error | undefined;
      // With a lease, the lease makes this the only writer; the bytes are the digest's anyway.
      const writing = this.storage.write(cacheKeys.blob(this.digest), cacheStream, {
        ifAbsent: lease === undefined,
      }).then(
        () => undefined,
        (error) => {
          if (error instanceof AlreadyExistsError) return undefined;
          cacheFailure = error instanceof Error ? error : new Error(String(error));
          wakeWriter?.();
          return undefined;
        },
      );
      this.#resolveReady();

      const algorithm = this.digest.startsWith("sha512:") ? "sha512" : "sha256";
      // Hashed in this loop rather than through a TransformStream: every stream stage costs
      // Bun a promise and a queue per chunk, about a tenth of a cold pull's CPU.
      const hash = createHash(algorithm);
      // No body is an empty one (its hash is still checked).
      const reader = (response.body ?? new Blob([]).stream()).getReader();
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        if (this.maxBytes !== undefined && this.received + value.length > this.maxBytes) {
          await reader.cancel().catch(() => {});
          throw this.#tooLarge();
        }
        const refused = this.reserve(value.length);
        if (refused) {
          await reader.cancel().catch(() => {});
          throw refused;
        }
        hash.update(value);
        this.window.push({ start: this.received, bytes: value });
        this.received += value.length;
        this.#trimWindow();
        this.#notify();
        if (this.size !== undefined && this.received > this.size) {
          await reader.cancel().catch(() => {});
          break;
        }
        if (!cacheFailure) {
          toCache!.enqueue(value);
          // Wait for the disk when the write queue is full: memory stays bounded.
          while (!cacheFailure && (toCache!.desiredSize ?? 1) <= 0) {
            await new Promise<void>((resolve) => (wakeWriter = resolve));
          }
        }
      }
      if (this.size !== undefined && this.received !== this.size) {
        throw new LengthMismatchError(
          `Blob "${this.digest}" from the upstream has ${this.received} bytes, ` +
            `not the ${this.size} it announced; it was not cached`,
        );
      }
      const actual = `${algorithm}:${hash.digest("hex")}`;
      if (actual !== this.digest) {
        throw new HashMismatchError(
          `Blob "${this.digest}" from the upstream hashes to "${actual}"; it was not cached`,
        );
      }
      // OCI: content is addressed by its digest; verified, the bytes may be released and kept.
      this.size = this.received;
      // Fencing: a replica whose lease was taken over must not complete its upload.
      const lost = await lease?.fence().then(() => undefined, (error: Error) => error);
      this.verified = true;
      this.#notify();
      if (lost) {
        // Too slow to renew it (a stalled bucket, a paused process): elect again. Either this
        // replica holds the lease anew and commits its verified bytes, or another replica
        // fetched the blob meanwhile and this one leaves the commit to it.
        await lease!.done();
        lease = undefined;
        const again = await options.elect!(this.digest);
        if (again.kind === "committed") return await this.#abandonUpload(toCache, writing);
        lease = again.lease;
      }
      if (!cacheFailure) toCache!.close();
      await writing;
      if (cacheFailure) throw cacheFailure;
      this.#resolveCommitted();
      options.onCommitted?.(this.digest, this.received);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      if (!this.verified) this.failure = failure;
      try {
        toCache?.error(failure); // aborts the cache write: nothing is committed
      } catch {
        // already closed
      }
      this.#rejectReady(failure);
      this.#rejectCommitted(failure);
      options.onRejected?.(this.digest, failure);
      this.#notify();
    } finally {
      this.window = [];
      await lease?.done().catch(() => {});
    }
  }

  /**
   * The blob copied by the runtime into the cache's temporary file, hashed from there, and
   * committed only once its length and digest matched (fillFile removes the file otherwise).
   * Its whole announced size counts as in flight from the start.
   */
  async #fetchToFile(
    storage: Storage & FileFillStorage,
    response: Response,
    toFile: FileTransfer,
    size: number,
    options: BlobFetcherOptions,
  ): Promise<void> {
    const refused = this.reserve(size);
    if (refused) {
      await response.body?.cancel().catch(() => {});
      throw refused;
    }
    this.cacheFirst = true;
    this.#resolveReady();
    const algorithm = this.digest.startsWith("sha512:") ? "sha512" : "sha256";
    try {
      await storage.fillFile(cacheKeys.blob(this.digest), async (temp) => {
        const written = await toFile(temp);
        // The sync fillFile does before its rename would wait for the disk after the hash;
        // started here, the two overlap, and fillFile's own sync finds nothing left to write.
        const [digest] = await Promise.all([hashFile(temp, [algorithm]), syncFile(temp)]);
        if (digest.length !== written) {
          throw new LengthMismatchError(
            `Blob "${this.digest}" from the upstream: ${written} bytes were written but ` +
              `${digest.length} hashed; it was not cached`,
          );
        }
        const actual = `${algorithm}:${digest[algorithm]}`;
        if (actual !== this.digest) {
          throw new HashMismatchError(
            `Blob "${this.digest}" from the upstream hashes to "${actual}"; it was not cached`,
          );
        }
      }, { ifAbsent: true });
    } catch (error) {
      // The same bytes, committed by another download meanwhile.
      if (!(error instanceof AlreadyExistsError)) throw error;
    }
    this.size = size;
    this.received = size;
    this.verified = true;
    this.#resolveCommitted();
    options.onCommitted?.(this.digest, size);
    this.#notify();
  }

  /** Another replica committed the verified bytes this one has: its own upload is aborted. */
  async #abandonUpload(
    toCache: ReadableStreamDefaultController<Uint8Array> | undefined,
    writing: Promise<void>,
  ): Promise<void> {
    try {
      toCache?.error(new Error("Another proxy replica committed the blob"));
    } catch {
      // already closed
    }
    await writing;
    this.#resolveCommitted();
  }

  /** Another replica committed the blob meanwhile: every client reads it from the cache. */
  async #adoptCommitted(): Promise<void> {
    const stat = await this.storage.stat(cacheKeys.blob(this.digest));
    this.size = stat.size;
    this.received = stat.size;
    this.verified = true;
    this.#resolveReady();
    this.#resolveCommitted();
    this.#notify();
  }

  #tooLarge(): TooLargeError {
    return new TooLargeError(`blob ${this.digest} from the upstream`, this.maxBytes!);
  }

  /** A stream of the blob: from the window while it keeps up, from the cache once behind. */
  subscribe(): ReadableStream<Uint8Array> {
    let offset = 0;
    let fromCache: ReadableStreamDefaultReader<Uint8Array> | undefined;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          while (true) {
            if (fromCache) {
              const { done, value } = await fromCache.read();
              if (done) controller.close();
              else controller.enqueue(value);
              return;
            }
            if (this.failure) throw this.failure;
            // Hold back the last byte until the digest is verified, so a client can never
            // complete a transfer of bytes that do not match.
            const limit = this.verified ? this.received : Math.max(0, this.received - 1);
            if (offset < limit) {
              const chunk = this.#fromWindow(offset, limit);
              if (chunk) {
                offset += chunk.length;
                controller.enqueue(chunk);
                return;
              }
              // Behind the window: continue from the cache once the blob is committed.
              await this.committed;
              const object = await this.storage.read(cacheKeys.blob(this.digest), {
                range: { start: offset, end: this.received - 1 },
              });
              fromCache = bodyStream(object).getReader();
              continue;
            }
            if (this.verified) {
              controller.close();
              return;
            }
            await new Promise<void>((resolve) => this.#waiters.push(resolve));
          }
        } catch (error) {
          controller.error(error);
        }
      },
      cancel: async (reason) => {
        await fromCache?.cancel(reason).catch(() => {});
      },
    }, { highWaterMark: 0 });
  }

  #trimWindow(): void {
    let held = this.received - (this.window[0]?.start ?? this.received);
    while (this.window.length > 1 && held - this.window[0]!.bytes.length >= WINDOW_BYTES) {
      held -= this.window.shift()!.bytes.length;
    }
  }

  /** The bytes at `offset` (up to `limit`) from the window, if it still has them. */
  #fromWindow(offset: number, limit: number): Uint8Array | undefined {
    const first = this.window[0];
    if (!first || offset < first.start) return undefined;
    for (const piece of this.window) {
      const end = piece.start + piece.bytes.length;
      if (offset >= end) continue;
      const from = offset - piece.start;
      const to = Math.min(piece.bytes.length, limit - piece.start);
      return from === 0 && to === piece.bytes.length ? piece.bytes : piece.bytes.subarray(from, to);
    }
    return undefined;
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
