import { createHash } from "node:crypto";
import { hashFile } from "./hash.ts";
/** What a {@linkcode StreamHasher} computed: SHA-256, and SHA-512 when it was asked for. */
export interface StreamDigest {
  sha256: string;
  sha512?: string;
}

/** Options for {@linkcode HashPool.hasher}. */
export interface HasherOptions {
  /** Compute SHA-512 as well (it costs about twice SHA-256). Default true. */
  sha512?: boolean;
}

/**
 * An incremental SHA-256 (+ SHA-512) of one byte stream, fed chunk by chunk. `update` returns a
 * promise only when the hashing has fallen behind (the caller should then wait: memory stays
 * bounded); `digest` settles once every byte fed so far is hashed.
 */
export interface StreamHasher {
  update(chunk: Uint8Array): void | Promise<void>;
  digest(): Promise<StreamDigest>;
  /** Drops the hash state (the stream failed); `digest` is never called after it. */
  abort(): void;
}

/** Options for {@linkcode HashPool}. */
export interface HashPoolOptions {
  /**
   * Worker threads. Default: one per CPU, at most 4 (SHA-512 runs at only ~250 MB/s per core in
   * Bun and Deno, so one worker would cap a clone there; each costs ~15 MB of memory). 0 hashes
   * on the calling thread.
   */
  workers?: number;
}

/** Bytes gathered before they are posted to a worker: fewer, larger messages. */
const BATCH_BYTES = 1024 * 1024;
/** Bytes posted to the workers and not yet hashed, beyond which `update` asks callers to wait. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** Returned batch buffers kept for reuse (a little more than the backlog holds). */
const SPARE_BUFFERS = 16;

/**
 * The worker's code. It keeps one pair of hash states per stream id and answers every batch
 * with an acknowledgement (for the pool's backpressure) and every end with the two digests.
 * Inline source (a Blob URL), so `bun build --compile` needs no second entry point.
 */
const WORKER_SOURCE = `
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
const streams = new Map();
const FILE_READ_BYTES = 4 * 1024 * 1024;
let fileBuffer;
function hashFile(id, file, sha512) {
  const sha256 = createHash("sha256");
  const sha512State = sha512 ? createHash("sha512") : undefined;
  try {
    const fd = openSync(file, "r");
    try {
      fileBuffer ??= new Uint8Array(FILE_READ_BYTES);
      for (;;) {
        const count = readSync(fd, fileBuffer, 0, fileBuffer.length, null);
        if (count === 0) break;
        const bytes = fileBuffer.subarray(0, count);
        sha256.update(bytes);
        sha512State?.update(bytes);
      }
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    return { id, bytes: 0, error: String(error?.message ?? error) };
  }
  const reply = { id, bytes: 0, sha256: sha256.digest("hex") };
  if (sha512State) reply.sha512 = sha512State.digest("hex");
  return reply;
}
self.onmessage = (event) => {
  const { id, bytes, end, drop, sha512, file } = event.data;
  if (file !== undefined) {
    self.postMessage(hashFile(id, file, sha512));
    return;
  }
  if (drop) {
    streams.delete(id);
    return;
  }
  let state = streams.get(id);
  if (!state) {
    state = { sha256: createHash("sha256"), sha512: sha512 ? createHash("sha512") : undefined };
    streams.set(id, state);
  }
  state.sha256.update(bytes);
  state.sha512?.update(bytes);
  // The batch's buffer goes back with the answer, to be filled again: a fresh 1 MiB buffer per
  // batch costs page faults on first touch, more than the copy into it.
  const reply = { id, bytes: bytes.length, buffer: bytes.buffer };
  if (end) {
    streams.delete(id);
    reply.sha256 = state.sha256.digest("hex");
    if (state.sha512) reply.sha512 = state.sha512.digest("hex");
  }
  self.postMessage(reply, [bytes.buffer]);
};
`;

interface WorkerReply {
  id: number;
  bytes: number;
  /** The batch's buffer, handed back for reuse. */
  buffer?: ArrayBuffer;
  sha256?: string;
  sha512?: string;
  /** A file could not be read (hashFile). */
  error?: string;
}

interface Lane {
  worker: Worker;
  /** Bytes posted to this worker and not yet acknowledged. */
  pending: number;
  /** Streams whose digest this worker owes. */
  waiting: Map<number, { resolve: (hashes: StreamDigest) => void; reject: (e: Error) => void }>;
  failure?: Error;
}

/**
 * Hashes streams (SHA-256 and SHA-512 together) on worker threads, so a download's event loop
 * only receives and writes bytes: on a clone both hashes cost more CPU than the transfer itself
 * (SHA-512 alone runs at about 450 MB/s per core), and done in line they serialise with it.
 * Each stream is hashed by one worker; chunks are copied into 1 MiB batches that are transferred
 * (not cloned) to it — one copy on the calling thread, since the same bytes are also written to
 * disk — and at most 8 MiB may wait to be hashed before `update` makes its caller wait. Where workers are missing (Node without the web Worker) or
 * cannot start, streams are hashed on the calling thread: the digests are the same either way.
 * Call {@linkcode HashPool.close} when done: live workers keep a process from exiting.
 */
export class HashPool {
  readonly #lanes: Lane[] = [];
  readonly #size: number;
  #nextId = 1;
  #pendingBytes = 0;
  #wakers: (() => void)[] = [];
  #closed = false;
  /** Batch buffers the workers handed back, to be filled again. */
  #spare: ArrayBuffer[] = [];

  constructor(options: HashPoolOptions = {}) {
    const cpus = typeof navigator === "object" ? navigator.hardwareConcurrency ?? 1 : 1;
    this.#size = Math.max(0, Math.floor(options.workers ?? Math.min(4, cpus)));
  }

  /** A hasher for one stream: on a worker when the pool has one, else in line. */
  hasher(options: HasherOptions = {}): StreamHasher {
    const sha512 = options.sha512 ?? true;
    // SHA-256 alone is cheaper than the copy to a worker and back (measured: a 333 MB download
    // took more CPU and no less time with it on a worker): only SHA-512 streams go there.
    if (!sha512) return inlineHasher({ sha512 });
    const lane = this.#closed ? undefined : this.#pickLane();
    return lane ? this.#workerHasher(lane, sha512) : inlineHasher({ sha512 });
  }

  /**
   * The hashes of a whole local file, read and hashed on a worker (no byte crosses threads: the
   * worker reads the file itself, from the page cache when it was just written), else in line.
   */
  hashFile(path: string, options: HasherOptions = {}): Promise<StreamDigest> {
    const sha512 = options.sha512 ?? true;
    const lane = this.#closed ? undefined : this.#pickLane();
    if (!lane) return hashFileInline(path, sha512);
    const id = this.#nextId++;
    const result = new Promise<StreamDigest>((resolve, reject) => {
      lane.waiting.set(id, { resolve, reject });
    });
    lane.worker.postMessage({ id, file: path, sha512 });
    return result;
  }

  /** Stops the workers; digests still owed reject. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const lane of this.#lanes.splice(0)) {
      lane.worker.terminate();
      this.#fail(lane, new Error("The hash pool was closed"));
    }
  }

  #pickLane(): Lane | undefined {
    const live = this.#lanes.filter((lane) => !lane.failure);
    if (live.length < this.#size) {
      const started = this.#startLane();
      if (started) return started;
    }
    // The least loaded worker: by digests owed, then by bytes queued.
    return live.sort((a, b) => a.waiting.size - b.waiting.size || a.pending - b.pending)[0];
  }

  #startLane(): Lane | undefined {
    if (typeof Worker !== "function" || typeof URL.createObjectURL !== "function") {
      return undefined;
    }
    let worker: Worker;
    try {
      const url = URL.createObjectURL(
        new Blob([WORKER_SOURCE], { type: "application/javascript" }),
      );
      worker = new Worker(url, { type: "module" });
    } catch {
      return undefined;
    }
    const lane: Lane = { worker, pending: 0, waiting: new Map() };
    worker.onmessage = (event: MessageEvent<WorkerReply>) => this.#onReply(lane, event.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault?.();
      this.#fail(lane, new Error(`A hash worker failed: ${event.message ?? "unknown error"}`));
    };
    this.#lanes.push(lane);
    return lane;
  }

  #onReply(lane: Lane, reply: WorkerReply): void {
    lane.pending -= reply.bytes;
    this.#pendingBytes -= reply.bytes;
    if (reply.buffer?.byteLength === BATCH_BYTES && this.#spare.length < SPARE_BUFFERS) {
      this.#spare.push(reply.buffer);
    }
    if (reply.error !== undefined) {
      lane.waiting.get(reply.id)?.reject(new Error(reply.error));
      lane.waiting.delete(reply.id);
    } else if (reply.sha256 !== undefined) {
      const waiter = lane.waiting.get(reply.id);
      lane.waiting.delete(reply.id);
      waiter?.resolve(
        reply.sha512 === undefined
          ? { sha256: reply.sha256 }
          : { sha256: reply.sha256, sha512: reply.sha512 },
      );
    }
    if (this.#pendingBytes < MAX_PENDING_BYTES) this.#wake();
  }

  #fail(lane: Lane, error: Error): void {
    lane.failure ??= error;
    this.#pendingBytes -= lane.pending;
    lane.pending = 0;
    for (const waiter of lane.waiting.values()) waiter.reject(error);
    lane.waiting.clear();
    this.#wake();
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }

  #post(
    lane: Lane,
    message: { id: number; bytes: Uint8Array<ArrayBuffer>; end: boolean; sha512: boolean },
  ): void {
    if (lane.failure) throw lane.failure;
    lane.pending += message.bytes.length;
    this.#pendingBytes += message.bytes.length;
    lane.worker.postMessage(message, [message.bytes.buffer]);
  }

  #workerHasher(lane: Lane, sha512: boolean): StreamHasher {
    const id = this.#nextId++;
    let batch: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    let filled = 0;
    let ended = false;
    const send = (end: boolean) => {
      this.#post(lane, { id, bytes: batch.subarray(0, filled), end, sha512 });
      batch = new Uint8Array(0);
      filled = 0;
    };
    return {
      update: (chunk) => {
        if (lane.failure) throw lane.failure;
        for (let offset = 0; offset < chunk.length;) {
          if (batch.length === 0) {
            batch = new Uint8Array(this.#spare.pop() ?? new ArrayBuffer(BATCH_BYTES));
          }
          const count = Math.min(chunk.length - offset, batch.length - filled);
          batch.set(chunk.subarray(offset, offset + count), filled);
          filled += count;
          offset += count;
          if (filled === batch.length) send(false);
        }
        if (this.#pendingBytes < MAX_PENDING_BYTES) return;
        return new Promise<void>((resolve) => this.#wakers.push(resolve)).then(() => {
          if (lane.failure) throw lane.failure;
        });
      },
      digest: () => {
        if (ended) return Promise.reject(new TypeError("digest() was already called"));
        ended = true;
        if (lane.failure) return Promise.reject(lane.failure);
        const result = new Promise<StreamDigest>((resolve, reject) => {
          lane.waiting.set(id, { resolve, reject });
        });
        send(true);
        return result;
      },
      abort: () => {
        if (ended) return;
        ended = true;
        batch = new Uint8Array(0);
        if (!lane.failure) lane.worker.postMessage({ id, drop: true });
      },
    };
  }
}

/** {@linkcode HashPool.hashFile} without a worker. */
async function hashFileInline(path: string, sha512: boolean): Promise<StreamDigest> {
  const { length: _, ...digest } = await hashFile(path, sha512 ? ["sha256", "sha512"] : ["sha256"]);
  return digest;
}

/** A {@linkcode StreamHasher} on the calling thread. */
export function inlineHasher(options: HasherOptions = {}): StreamHasher {
  const sha256 = createHash("sha256");
  const sha512 = options.sha512 ?? true ? createHash("sha512") : undefined;
  return {
    update(chunk) {
      sha256.update(chunk);
      sha512?.update(chunk);
    },
    digest() {
      const hex = sha256.digest("hex");
      return Promise.resolve(
        sha512 ? { sha256: hex, sha512: sha512.digest("hex") } : { sha256: hex },
      );
    },
    abort() {},
  };
}
