import { createHash, type Hash } from "node:crypto";
import { open } from "node:fs/promises";

/** The hashes TiUP records for files. */
export interface FileHashes {
  sha256: string;
  sha512: string;
}

/** A hash a stream can be digested with. */
export type HashAlgorithm = keyof FileHashes;

/** What went through a hashed stream: its length and the hex digest of each algorithm asked. */
export type StreamDigest<A extends HashAlgorithm = HashAlgorithm> =
  & { length: number }
  & { [K in A]: string };

const BOTH: readonly HashAlgorithm[] = ["sha256", "sha512"];

/** Hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Hex SHA-256 and SHA-512 of bytes. */
export function hashBytes(bytes: Uint8Array): FileHashes {
  return { sha256: sha256Hex(bytes), sha512: createHash("sha512").update(bytes).digest("hex") };
}

/**
 * Hashes a stream as it is read, without holding it: returns the length and the hashes asked
 * for (both TiUP hashes by default; ask for one where only one is checked, it is twice as fast).
 *
 * @example
 * ```ts
 * const { length, sha256 } = await hashStream(body, ["sha256"]);
 * ```
 */
export async function hashStream<A extends HashAlgorithm = HashAlgorithm>(
  stream: ReadableStream<Uint8Array>,
  algorithms: readonly A[] = BOTH as readonly A[],
): Promise<StreamDigest<A>> {
  const digester = createDigester(algorithms);
  const reader = stream.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      digester.update(value);
    }
  } finally {
    reader.releaseLock();
  }
  return digester.digest();
}

/** Bytes read from a file at a time by {@linkcode hashFile}. */
const FILE_READ_BYTES = 4 * 1024 * 1024;

/**
 * Hashes a local file: its length and the hashes asked for. It reads into one buffer reused for
 * the whole file, which costs Bun about a third of the CPU of a file stream (each of whose
 * chunks is a fresh allocation), and yields to the event loop between reads.
 */
export async function hashFile<A extends HashAlgorithm = HashAlgorithm>(
  path: string,
  algorithms: readonly A[] = BOTH as readonly A[],
): Promise<StreamDigest<A>> {
  const digester = createDigester(algorithms);
  const handle = await open(path, "r");
  try {
    const buffer = new Uint8Array(FILE_READ_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, digester.length);
      if (bytesRead === 0) break;
      digester.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return digester.digest();
}

/** Options for {@linkcode hashingStream}. */
export interface HashingStreamOptions<A extends HashAlgorithm> {
  /**
   * Hears of each chunk before it passes, with the length so far (this chunk included); what
   * it throws fails the stream (a cap on the length).
   */
  onChunk?: (chunk: Uint8Array, length: number) => void;
  /** Checks the digest once the stream ended; what it throws fails the stream at its end. */
  check?: (digest: StreamDigest<A>) => void;
}

/**
 * A pass-through stream that hashes what goes through it. `digest` resolves once the stream
 * ended and passed `check`; it rejects with what failed or cancelled the stream. Piped into a
 * Storage write, a failed check errors the write before its rename, so bytes that do not match
 * never become visible.
 *
 * @example
 * ```ts
 * const hashing = hashingStream(["sha256"]);
 * await storage.write(path, body.pipeThrough(hashing.stream));
 * const { sha256 } = await hashing.digest;
 * ```
 */
export function hashingStream<A extends HashAlgorithm = HashAlgorithm>(
  algorithms: readonly A[] = BOTH as readonly A[],
  options: HashingStreamOptions<A> = {},
): { stream: TransformStream<Uint8Array, Uint8Array>; digest: Promise<StreamDigest<A>> } {
  const digester = createDigester(algorithms);
  let settle: (digest: StreamDigest<A>) => void = () => {};
  let fail: (reason: unknown) => void = () => {};
  const digest = new Promise<StreamDigest<A>>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  digest.catch(() => {}); // A caller that only pipes need not also listen here.
  const failed = (controller: TransformStreamDefaultController<Uint8Array>, error: unknown) => {
    fail(error);
    controller.error(error);
  };
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      try {
        options.onChunk?.(chunk, digester.length + chunk.length);
      } catch (error) {
        failed(controller, error);
        return;
      }
      digester.update(chunk);
      controller.enqueue(chunk);
    },
    flush(controller) {
      const result = digester.digest();
      try {
        options.check?.(result);
      } catch (error) {
        failed(controller, error);
        return;
      }
      settle(result);
    },
    cancel(reason) {
      fail(reason);
    },
  });
  return { stream, digest };
}

/** The running hashes of one stream. */
function createDigester<A extends HashAlgorithm>(algorithms: readonly A[]) {
  const hashes = algorithms.map((algorithm) => [algorithm, createHash(algorithm)] as const);
  let length = 0;
  return {
    get length() {
      return length;
    },
    update(chunk: Uint8Array) {
      for (const [, hash] of hashes) hash.update(chunk);
      length += chunk.length;
    },
    digest(): StreamDigest<A> {
      const result: Record<string, string | number> = { length };
      for (const [algorithm, hash] of hashes as ReadonlyArray<readonly [A, Hash]>) {
        result[algorithm] = hash.digest("hex");
      }
      return result as StreamDigest<A>;
    },
  };
}
