import { createHash } from "node:crypto";
import { HashMismatchError, LengthMismatchError } from "../../errors.ts";
import { bodyStream } from "../../storage/read_bytes.ts";
import type { Storage, StorageReader } from "../../storage/storage.ts";
import type { ExpectedTarball } from "./listed_tarballs.ts";

/** Options for {@linkcode TarballPuller}. */
export interface TarballPullerOptions {
  /** Told each time a tarball is requested from the upstream. */
  onFetch?: (path: string) => void;
  /** Told when a pulled tarball was verified and kept. */
  onKept?: (path: string, bytes: number) => void;
  /** Told when a pull failed or the bytes did not match (nothing kept). */
  onRejected?: (path: string, error: unknown) => void;
  /**
   * How long the first client may leave the download waiting (default 30 s): then it is cut off
   * and the download goes on to disk alone, so one stalled client never holds back everyone
   * waiting for the file.
   */
  clientStallMs?: number;
}

/** One client's view of a pull. */
export interface PullTransfer {
  /**
   * For the request that started the pull: the bytes as they arrive, the last chunk held back
   * until length and hashes matched (the stream errors instead when they do not). Undefined for
   * a request that joined a pull in flight: it waits for `kept` and reads the stored file.
   */
  body?: ReadableStream<Uint8Array>;
  /** Settles once the tarball is stored (rejects when it never will be). */
  kept: Promise<void>;
}

/** Chunks queued towards the disk or the first client before the download waits. */
const QUEUE_CHUNKS = 16;
const CLIENT_STALL_MS = 30_000;

/**
 * Fetches tarballs a mirror lists but lacks from an upstream mirror, once per path however
 * many clients ask at the same time: the first request starts the download and streams it, the
 * others wait for it to be stored. Bytes are hashed as they stream; the write to storage is
 * completed (atomically: temp file, rename) only when the length and hashes match the signed
 * manifest, and aborted otherwise, so a tampered or truncated upstream tarball is never kept nor
 * fully delivered. Memory per pull is bounded by two short queues whatever the size; a longer
 * body than the manifest's length is cut off at once.
 */
export class TarballPuller {
  readonly #local: Storage;
  readonly #upstream: StorageReader;
  readonly #options: TarballPullerOptions;
  readonly #inflight = new Map<string, Promise<void>>();

  constructor(local: Storage, upstream: StorageReader, options: TarballPullerOptions = {}) {
    this.#local = local;
    this.#upstream = upstream;
    this.#options = options;
  }

  /**
   * Starts (or joins) the pull of `path`. Resolves once the upstream answered (rejects, before
   * any byte, when it cannot: unreachable, 404) for the starting request, at once for a joiner.
   */
  async pull(path: string, expected: ExpectedTarball): Promise<PullTransfer> {
    const inflight = this.#inflight.get(path);
    if (inflight) return { kept: inflight };
    let announce!: (body: ReadableStream<Uint8Array>) => void;
    const opened = new Promise<ReadableStream<Uint8Array>>((resolve) => (announce = resolve));
    const kept = this.#download(path, expected, announce);
    this.#inflight.set(path, kept);
    kept.then(
      () => this.#options.onKept?.(path, expected.length),
      (error) => this.#options.onRejected?.(path, error),
    ).finally(() => this.#inflight.delete(path));
    const body = await Promise.race([opened, kept.then(() => undefined)]);
    return body ? { body, kept } : { kept };
  }

  async #download(
    path: string,
    expected: ExpectedTarball,
    announce: (body: ReadableStream<Uint8Array>) => void,
  ): Promise<void> {
    this.#options.onFetch?.(path);
    const object = await this.#upstream.read(path, { maxBytes: expected.length });
    const reader = bodyStream(object).getReader();
    const client = new Pushable();
    const stallMs = this.#options.clientStallMs ?? CLIENT_STALL_MS;
    const disk = new Pushable();
    announce(client.stream);
    const writing = this.#local.write(path, disk.stream);
    const sha256 = createHash("sha256");
    const sha512 = createHash("sha512");
    let length = 0;
    let held: Uint8Array | undefined;
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        length += value.length;
        if (length > expected.length) {
          throw new LengthMismatchError(
            `Cannot keep "${path}" from the upstream: it is longer than the ${expected.length} bytes its manifest says`,
          );
        }
        sha256.update(value);
        sha512.update(value);
        if (held) {
          await disk.push(held);
          await client.push(held, stallMs);
        }
        held = value;
      }
      if (length !== expected.length) {
        throw new LengthMismatchError(
          `Cannot keep "${path}" from the upstream: it is ${length} bytes, its manifest says ${expected.length}`,
        );
      }
      const digest = sha256.digest("hex");
      const digest512 = sha512.digest("hex");
      if (
        digest !== expected.sha256 ||
        (expected.sha512 !== undefined && digest512 !== expected.sha512)
      ) {
        throw new HashMismatchError(
          `Cannot keep "${path}" from the upstream: its hash does not match its signed manifest (tampered?)`,
        );
      }
      if (held) await disk.push(held);
      disk.close();
      await writing;
      if (held) await client.push(held, stallMs);
      client.close();
    } catch (error) {
      await reader.cancel().catch(() => {});
      disk.error(error);
      await writing.catch(() => {});
      client.error(error);
      throw error;
    }
  }
}

/** A readable stream fed by `push`, which waits while the reader is behind (backpressure). */
class Pushable {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #wake: (() => void) | undefined;
  #cancelled = false;

  constructor() {
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#notify(),
      cancel: () => {
        this.#cancelled = true;
        this.#notify();
      },
    }, new CountQueuingStrategy({ highWaterMark: QUEUE_CHUNKS }));
  }

  /**
   * Queues a chunk; resolves when there is room again (at once once the reader is gone). With
   * `stallMs`, a reader that makes no room for that long is cut off (its stream errors).
   */
  async push(chunk: Uint8Array, stallMs?: number): Promise<void> {
    if (this.#cancelled) return;
    this.#controller.enqueue(chunk);
    while (!this.#cancelled && (this.#controller.desiredSize ?? 1) <= 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const woken = await new Promise<boolean>((resolve) => {
        this.#wake = () => resolve(true);
        if (stallMs !== undefined) timer = setTimeout(() => resolve(false), stallMs);
      });
      clearTimeout(timer);
      if (!woken) {
        this.error(new Error("The client stopped reading"));
        this.#cancelled = true;
      }
    }
  }

  close(): void {
    if (!this.#cancelled) this.#controller.close();
  }

  error(error: unknown): void {
    if (!this.#cancelled) this.#controller.error(error);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
