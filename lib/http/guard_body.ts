/** Why a guarded body failed. */
export type BodyFailure =
  /** No chunk arrived within `idleMs` while the reader waited. */
  | { kind: "stalled"; idleMs: number }
  /** The whole body was not in by its deadline (a slow drip). */
  | { kind: "too-slow"; bytes: number }
  /** More bytes than `maxBytes`. */
  | { kind: "too-large"; limit: number }
  /** The body ended before `expectedBytes` (the Content-Length). */
  | { kind: "truncated"; bytes: number; expected: number }
  /** Reading the source failed (the connection broke off). */
  | { kind: "broken"; error: unknown };

/** Options for {@linkcode guardBody}. */
export interface BodyGuard {
  /** Longest wait for the next chunk, counted only while the reader is waiting. */
  idleMs: number;
  /** performance.now() time by which the whole body must be in (default: none). */
  deadline?: number;
  /** Cap on the body's bytes (default: none). */
  maxBytes?: number;
  /** The length the server announced; a body that ends short of it fails. */
  expectedBytes?: number;
  /** Closes the connection once the body has failed. */
  abort: () => void;
  /** The error the reader sees, made once per failed body. */
  toError: (failure: BodyFailure) => unknown;
}

/**
 * Passes a response body through while enforcing the cap, and failing on a stall (no chunk
 * within `idleMs` while the reader waits: a slow consumer is not the server's fault), a slow
 * drip (not all in by `deadline`), truncation and a broken connection. The source is read
 * only as the reader asks (no buffering ahead), and a failed body closes its connection.
 *
 * @example
 * ```ts
 * const body = guardBody(response.body!, {
 *   idleMs: 60_000, maxBytes: 1024, abort, toError: (f) => new Error(f.kind),
 * });
 * ```
 */
export function guardBody(
  source: ReadableStream<Uint8Array>,
  guard: BodyGuard,
): ReadableStream<Uint8Array> {
  // Taken at the first read, with the deadline's timer: until then the source is free, so a
  // caller may hand it to the runtime instead (a file transfer, see fetchWithPolicy).
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let seen = 0;
  let failed = false;
  let idle: ReturnType<typeof setTimeout> | undefined;
  let overall: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    clearTimeout(idle);
    clearTimeout(overall);
  };
  const fail = (failure: BodyFailure, controller: ReadableStreamDefaultController<Uint8Array>) => {
    if (failed) return;
    failed = true;
    stop();
    controller.error(guard.toError(failure));
    guard.abort();
    reader?.cancel().catch(() => {});
  };
  const begin = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    const remaining = (guard.deadline ?? Infinity) - performance.now();
    // Beyond what a timer can hold (an uncapped read of unknown length): only the idle
    // timeout applies.
    if (remaining < 2 ** 31 - 1) {
      overall = setTimeout(
        () => fail({ kind: "too-slow", bytes: seen }, controller),
        Math.max(0, remaining),
      );
    }
    return source.getReader();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= begin(controller);
      idle = setTimeout(
        () => fail({ kind: "stalled", idleMs: guard.idleMs }, controller),
        guard.idleMs,
      );
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        fail({ kind: "broken", error }, controller);
        return;
      } finally {
        clearTimeout(idle);
      }
      if (failed) return;
      if (chunk.done) {
        stop();
        const expected = guard.expectedBytes;
        if (expected !== undefined && seen !== expected) {
          fail({ kind: "truncated", bytes: seen, expected }, controller);
        } else {
          controller.close();
        }
        return;
      }
      seen += chunk.value.length;
      if (seen > (guard.maxBytes ?? Infinity)) {
        fail({ kind: "too-large", limit: guard.maxBytes ?? Infinity }, controller);
        return;
      }
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      stop();
      return reader ? reader.cancel(reason) : source.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
