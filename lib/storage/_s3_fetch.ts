/**
 * The S3 backend's fetch policy, in one module so that it can give way to the project's shared
 * HTTP policy (lib/http) as a whole: every attempt bounded in time, bounded retries only of
 * transient failures (network errors, 408, 429, 500, 502, 503, 504), exponential backoff, and
 * the caller's AbortSignal obeyed at every step. Requests are signed again for each attempt
 * (SigV4 signatures carry the time).
 *
 * @module
 */
import { DownloadError } from "../errors.ts";

/** A fetch function; injected in tests so no test touches globalThis.fetch. */
export type S3FetchFn = (request: Request) => Promise<Response>;

/** Limits of {@linkcode fetchWithPolicy}. */
export interface S3FetchPolicy {
  fetch: S3FetchFn;
  /** Time allowed until response headers arrive, per attempt (plus the upload time of a body). */
  headersTimeoutMs: number;
  /** Time allowed between two chunks of a response body. */
  idleTimeoutMs: number;
  /** The slowest upload tolerated: a body of n bytes gets n / rate more time per attempt. */
  minBytesPerSecond: number;
  /** Extra attempts after a transient failure. */
  retries: number;
  /** Base delay between attempts; doubles each time. */
  retryDelayMs: number;
}

/** What one request needs: how to build (and sign) it, and how big its body is. */
export interface S3Attempt {
  /** A fresh, signed request for every attempt. */
  build(): Promise<Request>;
  /** Bytes the request uploads, for its time allowance. */
  uploadBytes: number;
  signal: AbortSignal | undefined;
  /** For messages: the method and object. */
  what: string;
}

/** An answered request; `done` stops its timers once the body has been consumed or dropped. */
export interface S3Answer {
  response: Response;
  /** The body, guarded by the idle timeout and the caller's signal. */
  body: ReadableStream<Uint8Array>;
}

const TRANSIENT_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Sends a request under the policy and returns the first answer that is not a transient
 * failure (a 404 or 412 is an answer, for the caller to judge). Throws DownloadError when every
 * attempt failed, or the signal's reason when the caller aborted.
 */
export async function fetchWithPolicy(
  policy: S3FetchPolicy,
  attempt: S3Attempt,
): Promise<S3Answer> {
  const { signal } = attempt;
  let lastError: unknown;
  for (let tries = 0; tries <= policy.retries; tries++) {
    signal?.throwIfAborted();
    if (tries > 0) await sleep(policy.retryDelayMs * 2 ** (tries - 1), signal);
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const wait = policy.headersTimeoutMs +
      Math.ceil((attempt.uploadBytes / policy.minBytesPerSecond) * 1000);
    const timer = setTimeout(() => controller.abort(new TimeoutSignal()), wait);
    let response: Response;
    try {
      const request = await attempt.build();
      response = await policy.fetch(new Request(request, { signal: controller.signal }));
    } catch (error) {
      signal?.removeEventListener("abort", onAbort);
      signal?.throwIfAborted();
      lastError = controller.signal.reason instanceof TimeoutSignal
        ? new DownloadError(`Cannot ${attempt.what}: no answer within ${seconds(wait)} s`)
        : new DownloadError(`Cannot ${attempt.what}: ${(error as Error)?.message ?? error}`, {
          cause: error,
        });
      continue;
    } finally {
      clearTimeout(timer);
    }
    if (TRANSIENT_STATUSES.has(response.status) && tries < policy.retries) {
      await response.body?.cancel().catch(() => {});
      signal?.removeEventListener("abort", onAbort);
      lastError = new DownloadError(`Cannot ${attempt.what}: HTTP ${response.status}`);
      continue;
    }
    const body = guardIdle(
      response.body ?? new Blob([]).stream(),
      policy.idleTimeoutMs,
      controller,
      () => signal?.removeEventListener("abort", onAbort),
      attempt.what,
    );
    return { response, body };
  }
  throw lastError ?? new DownloadError(`Cannot ${attempt.what}`);
}

/** The reason an attempt's own timer gives, told apart from the caller's abort. */
class TimeoutSignal extends Error {}

/** Fails the body when no chunk arrives within `idleMs`, or with the caller's abort reason. */
function guardIdle(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  controller: AbortController,
  finished: () => void,
  what: string,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let idle: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    clearTimeout(idle);
    finished();
  };
  return new ReadableStream<Uint8Array>({
    async pull(out) {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new TimeoutSignal()), idleMs);
      try {
        const { done, value } = await reader.read();
        clearTimeout(idle);
        if (done) {
          stop();
          out.close();
        } else out.enqueue(value);
      } catch (error) {
        stop();
        const reason = controller.signal.reason;
        out.error(
          reason instanceof TimeoutSignal
            ? new DownloadError(`Cannot ${what}: stalled for ${seconds(idleMs)} s`)
            : controller.signal.aborted
            ? reason
            : new DownloadError(`Cannot ${what}: ${(error as Error)?.message ?? error}`, {
              cause: error,
            }),
        );
      }
    },
    cancel(reason) {
      stop();
      return reader.cancel(reason);
    },
  });
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
