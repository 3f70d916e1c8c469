import { retryAfterMs } from "./retry_after.ts";

/**
 * Statuses worth asking again: the server or a gateway says "not now" (RFC 9110 15.5.9,
 * 15.6.3-15.6.5; RFC 6585 4). Any other answer would come back the same.
 */
export const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([408, 429, 502, 503, 504]);

/** RFC 9110 9.2.2: methods a client may send again without changing the outcome. */
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/** How many times, and how patiently, a failed request is asked again. */
export interface RetryPolicy {
  /** Extra attempts after a transient failure. */
  retries: number;
  /** The first delay between attempts; it doubles each time. */
  retryDelayMs: number;
  /**
   * The longest `Retry-After` honoured (default 30 s). A server that asks for more gets its
   * answer passed on at once instead of a wait nobody sees.
   */
  maxRetryAfterMs?: number;
  /** Statuses retried (default {@linkcode TRANSIENT_STATUSES}). */
  transientStatuses?: ReadonlySet<number>;
}

/** The request-specific side of {@linkcode retryTransient}. */
export interface RetryOptions {
  /** The request's method: only idempotent ones are ever sent twice. */
  method: string;
  /** False when the request body cannot be sent again (a stream): then it is sent once. */
  replayable?: boolean;
  /** performance.now() time after which no attempt starts (default: none). */
  deadline?: number;
  /** Whether an error an attempt threw is worth asking again (default: none is). */
  isTransientError?: (error: unknown) => boolean;
  /** Asked before each retry; false stops (an upstream a circuit breaker holds as down). */
  mayRetry?: () => boolean;
  /** Told about each attempt's outcome, and whether another attempt follows. */
  onAttempt?: (status: number | "error", retrying: boolean) => void;
  signal?: AbortSignal;
}

/**
 * Runs `attempt` until it gives a response that is not transient, throws an error that is not
 * transient, or the retries, the deadline or `mayRetry` run out; then returns that response
 * (whatever its status: the caller decides what a 404 means) or throws that error. Delays
 * double from `retryDelayMs`; a `Retry-After` within bounds lengthens one. A retried
 * response's body is cancelled.
 *
 * @example
 * ```ts
 * const { response } = await retryTransient(() => fetchAttempt(fetch, url, init, limits),
 *   { retries: 3, retryDelayMs: 250 }, { method: "GET", isTransientError: () => true });
 * ```
 */
export async function retryTransient<T extends { response: Response }>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  options: RetryOptions,
): Promise<T> {
  const retries = IDEMPOTENT_METHODS.has(options.method.toUpperCase()) &&
      options.replayable !== false
    ? policy.retries
    : 0;
  const transient = policy.transientStatuses ?? TRANSIENT_STATUSES;
  const deadline = options.deadline ?? Infinity;
  for (let n = 0;; n++) {
    const backoff = policy.retryDelayMs * 2 ** n;
    const lastTry = n >= retries || performance.now() + backoff >= deadline;
    const mayRetry = () => !lastTry && (options.mayRetry?.() ?? true);
    let result: T;
    try {
      result = await attempt();
    } catch (error) {
      const retrying = mayRetry() && (options.isTransientError?.(error) ?? false);
      options.onAttempt?.("error", retrying);
      if (!retrying) throw error;
      await sleep(backoff, options.signal);
      continue;
    }
    const { response } = result;
    const wait = transient.has(response.status) && mayRetry()
      ? delayFor(response, backoff, policy, deadline)
      : undefined;
    options.onAttempt?.(response.status, wait !== undefined);
    if (wait === undefined) return result;
    await response.body?.cancel().catch(() => {});
    await sleep(wait, options.signal);
  }
}

/** The wait before asking again after `response`, or undefined when it should not be asked. */
function delayFor(
  response: Response,
  backoff: number,
  policy: RetryPolicy,
  deadline: number,
): number | undefined {
  const asked = retryAfterMs(response.headers.get("retry-after"));
  if (asked === undefined) return backoff;
  if (asked > (policy.maxRetryAfterMs ?? 30_000)) return undefined;
  const wait = Math.max(backoff, asked);
  return performance.now() + wait >= deadline ? undefined : wait;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const stop = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    signal?.addEventListener("abort", stop, { once: true });
  });
}
