import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { Readable } from "node:stream";
import { AlreadyExistsError, HashMismatchError, LengthMismatchError } from "../lib/errors.ts";
import type { Storage } from "../lib/storage/storage.ts";
import { cacheKeys } from "./cache_keys.ts";

/** Options for {@linkcode BlobFetcher}. */
export interface BlobFetcherOptions {
  /** A private directory on local disk for downloads in progress. */
  spoolDir: string;
  /** Called once a verified blob is in the cache. */
  onCommitted?: (digest: string, size: number) => void;
  /** Called when a download fails or its bytes do not match the digest. */
  onRejected?: (digest: string, error: Error) => void;
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
}

/** Opens the upstream response for a blob: a 200 with a body, or throws. */
export type OpenBlob = () => Promise<Response>;

const READ_CHUNK = 256 * 1024;

/**
 * Fetches cold blobs into the cache with one upstream download per digest, however many clients
 * ask at once (distribution PR #3428 shows the N+1 downloads this avoids). The download is hashed
 * as it is spooled to local disk; every client streams from the spool as it grows, so the first
 * byte goes out at once and memory stays flat. The last byte is held back until the digest is
 * verified: a blob whose bytes do not match never completes at any client and is never written
 * to the cache. Only a verified blob is committed, by one atomic Storage write.
 */
export class BlobFetcher {
  readonly #storage: Storage;
  readonly #options: BlobFetcherOptions;
  readonly #inflight = new Map<string, Download>();

  constructor(storage: Storage, options: BlobFetcherOptions) {
    this.#storage = storage;
    this.#options = options;
  }

  /** How many downloads are running. */
  get active(): number {
    return this.#inflight.size;
  }

  /** True when `digest` is being downloaded right now (eviction must leave it alone). */
  isActive(digest: string): boolean {
    return this.#inflight.has(digest);
  }

  /** Joins the download of `digest`, starting it with `open` when none is running. */
  async fetch(digest: string, open: OpenBlob): Promise<BlobTransfer> {
    let download = this.#inflight.get(digest);
    const joined = download !== undefined;
    if (!download) {
      const spool = nodePath.join(
        this.#options.spoolDir,
        `${digest.replace(":", "-")}.${randomBytes(6).toString("hex")}`,
      );
      const started = new Download(digest, spool);
      download = started;
      this.#inflight.set(digest, started);
      started.run(open, this.#storage, this.#options).finally(() => {
        this.#inflight.delete(digest);
      });
    }
    await download.ready;
    return {
      size: download.size,
      body: download.subscribe(),
      joined,
      committed: download.committed,
    };
  }
}

class Download {
  size: number | undefined;
  written = 0;
  verified = false;
  failure: Error | undefined;
  readers = 0;
  finished = false;
  readonly ready: Promise<void>;
  readonly committed: Promise<void>;
  #resolveReady!: () => void;
  #rejectReady!: (error: Error) => void;
  #resolveCommitted!: () => void;
  #rejectCommitted!: (error: Error) => void;
  #waiters: (() => void)[] = [];

  constructor(readonly digest: string, readonly spool: string) {
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.committed = new Promise((resolve, reject) => {
      this.#resolveCommitted = resolve;
      this.#rejectCommitted = reject;
    });
    // Nobody may be listening; do not let an unobserved rejection crash the process.
    this.ready.catch(() => {});
    this.committed.catch(() => {});
  }

  async run(open: OpenBlob, storage: Storage, options: BlobFetcherOptions): Promise<void> {
    let handle: fs.FileHandle | undefined;
    try {
      const response = await open();
      const length = response.headers.get("content-length");
      this.size = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
      await fs.mkdir(options.spoolDir, { recursive: true, mode: 0o700 });
      handle = await fs.open(this.spool, "wx", 0o600);
      this.#resolveReady();
      const [algorithm] = this.digest.split(":");
      const hash = createHash(algorithm === "sha512" ? "sha512" : "sha256");
      if (response.body) {
        const reader = response.body.getReader();
        while (true) {
          const { done, value } = await reader.read();
          if (done) break;
          hash.update(value);
          let offset = 0;
          while (offset < value.length) {
            const { bytesWritten } = await handle.write(
              value,
              offset,
              value.length - offset,
              this.written + offset,
            );
            offset += bytesWritten;
          }
          this.written += value.length;
          if (this.size !== undefined && this.written > this.size) {
            await reader.cancel().catch(() => {});
            break;
          }
          this.#notify();
        }
      }
      await handle.close();
      handle = undefined;
      const actual = `${algorithm}:${hash.digest("hex")}`;
      if (this.size !== undefined && this.written !== this.size) {
        throw new LengthMismatchError(
          `Blob "${this.digest}" from the upstream has ${this.written} bytes, ` +
            `not the ${this.size} it announced; it was not cached`,
        );
      }
      if (actual !== this.digest) {
        throw new HashMismatchError(
          `Blob "${this.digest}" from the upstream hashes to "${actual}"; it was not cached`,
        );
      }
      this.verified = true;
      this.size = this.written;
      this.#notify();
      // OCI: content is addressed by digest, so the verified spool is committed as-is.
      const source = Readable.toWeb(createReadStream(this.spool, { highWaterMark: READ_CHUNK }));
      try {
        await storage.write(
          cacheKeys.blob(this.digest),
          source as unknown as ReadableStream<Uint8Array>,
          { ifAbsent: true },
        );
      } catch (error) {
        if (!(error instanceof AlreadyExistsError)) throw error;
      }
      this.#resolveCommitted();
      options.onCommitted?.(this.digest, this.written);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      if (!this.verified) this.failure = failure;
      this.#rejectReady(failure);
      this.#rejectCommitted(failure);
      options.onRejected?.(this.digest, failure);
      this.#notify();
      if (handle) await handle.close().catch(() => {});
    } finally {
      this.finished = true;
      await this.#release();
    }
  }

  /** A stream of the blob that follows the spool as it grows. */
  subscribe(): ReadableStream<Uint8Array> {
    this.readers++;
    let handle: fs.FileHandle | undefined;
    let offset = 0;
    let closed = false;
    const done = async () => {
      if (closed) return;
      closed = true;
      await handle?.close().catch(() => {});
      this.readers--;
      await this.#release();
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          handle ??= await fs.open(this.spool, "r");
          while (true) {
            if (this.failure) throw this.failure;
            // Hold back the last byte until the digest is verified, so a client can never
            // complete a transfer of bytes that do not match.
            const limit = this.verified ? this.written : Math.max(0, this.written - 1);
            if (offset < limit) {
              const length = Math.min(limit - offset, READ_CHUNK);
              const buffer = new Uint8Array(length);
              const { bytesRead } = await handle.read(buffer, 0, length, offset);
              if (bytesRead === 0) throw new Error(`Spool of "${this.digest}" shrank`);
              offset += bytesRead;
              controller.enqueue(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
              return;
            }
            if (this.verified) {
              controller.close();
              await done();
              return;
            }
            await new Promise<void>((resolve) => this.#waiters.push(resolve));
          }
        } catch (error) {
          controller.error(error);
          await done();
        }
      },
      cancel: async () => {
        await done();
      },
    }, { highWaterMark: 0 });
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  async #release(): Promise<void> {
    if (this.finished && this.readers === 0) {
      await fs.rm(this.spool, { force: true }).catch(() => {});
    }
  }
}
