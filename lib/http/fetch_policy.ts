/**
 * ferry's one HTTP fetch policy, for clients that read from (or write to) a server over plain
 * requests: the HTTP mirror reader, and the object-storage backend. Every request gets
 *
 * - a headers timeout per attempt; a server that lets it pass is not asked again (it is silent,
 *   not flaky: asking again would multiply the wait);
 * - an overall deadline, retries included: `deadlineAllowanceMs` + bytes / `minBytesPerSecond`,
 *   where bytes is the read's cap or its Content-Length, whichever is smaller, so a slow drip
 *   on a 1 KiB file fails after seconds, not hours;
 * - bounded retries of transient failures only (a connection error, 408/429/502/503/504, a
 *   `Retry-After` within bounds), of idempotent requests whose body is in memory (a streamed
 *   body is sent once);
 * - a byte cap (a Content-Length over it is refused before the body is read), and a body guard
 *   against stalls, slow drips and truncation.
 *
 * The pieces ({@linkcode fetchAttempt}, {@linkcode retryTransient}, {@linkcode guardBody}) are
 * also used one by one where a client needs more between them (the registry proxy's circuit
 * breaker and redirect handling).
 *
 * @module
 */
import { type AttemptFailure, fetchAttempt } from "./fetch_attempt.ts";
import type { FetchLike } from "./fetch_like.ts";
import { offerFileTransfer } from "./body_file_transfer.ts";
import { type BodyFailure, guardBody } from "./guard_body.ts";
import { type RetryPolicy, retryTransient } from "./retry_transient.ts";

/** The limits every request of one client gets. */
export interface FetchPolicy extends RetryPolicy {
  /** Time allowed until response headers arrive, per attempt. */
  headersTimeoutMs: number;
  /** Time allowed between two chunks of a body. */
  idleTimeoutMs: number;
  /** The slowest transfer tolerated; it sets the overall deadline with the allowance. */
  minBytesPerSecond: number;
  /** The fixed part of every overall deadline (connecting, headers, retries). */
  deadlineAllowanceMs: number;
}

/** The defaults: generous for a mirror across a slow link, never unbounded. */
export const DEFAULT_FETCH_POLICY: Readonly<FetchPolicy> = {
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  minBytesPerSecond: 16 * 1024,
  deadlineAllowanceMs: 15_000,
  retries: 3,
  retryDelayMs: 250,
};

/** The errors a client reports, in its own terms. */
export interface FetchErrors {
  /** An attempt got no response (`failure.timedOut`: within the headers timeout). */
  noAnswer: (failure: AttemptFailure) => unknown;
  /** A body went wrong (too large, stalled, too slow, truncated, broken off). */
  body: (failure: BodyFailure) => unknown;
}

/** Options for one {@linkcode fetchWithPolicy} call. */
export interface PolicyFetchOptions {
  /** The body's byte cap (default: none; HEAD: 0, for the deadline). */
  maxBytes?: number;
  signal?: AbortSignal;
  errors: FetchErrors;
}

/**
 * Sends `init` to `url` under `policy` and returns the final response, whatever its status
 * (the caller decides what a 404 means), with its body guarded. Throws
 * `errors.noAnswer(…)` when no attempt got a response, and `errors.body(…)` for a successful
 * response whose Content-Length is over the cap.
 *
 * @example
 * ```ts
 * const response = await fetchWithPolicy(fetch, "https://mirror/timestamp.json",
 *   { method: "GET" }, DEFAULT_FETCH_POLICY, { maxBytes: 1024, errors });
 * ```
 */
export async function fetchWithPolicy(
  fetch: FetchLike,
  url: string,
  init: RequestInit,
  policy: FetchPolicy,
  options: PolicyFetchOptions,
): Promise<Response> {
  const method = (init.method ?? "GET").toUpperCase();
  const started = performance.now();
  const cap = options.maxBytes ?? (method === "HEAD" ? 0 : Infinity);
  const deadlineFor = (bytes: number) =>
    started + policy.deadlineAllowanceMs + (bytes / policy.minBytesPerSecond) * 1000;
  const deadline = deadlineFor(cap);
  const { response, abort } = await sendWithRetries(fetch, url, init, policy, {
    ...options,
    method,
    deadline,
  });
  // HEAD's Content-Length is the size of a body that is not sent.
  if (!response.body || method === "HEAD") return response;
  const length = decodedLength(response);
  if (response.ok && length !== undefined && length > cap) {
    await response.body?.cancel().catch(() => {});
    throw options.errors.body({ kind: "too-large", limit: cap });
  }
  const bodyDeadline = deadlineFor(Math.min(cap, length ?? Infinity));
  const body = guardBody(response.body, {
    idleMs: policy.idleTimeoutMs,
    deadline: bodyDeadline,
    maxBytes: cap,
    ...(length === undefined ? {} : { expectedBytes: length }),
    abort,
    toError: options.errors.body,
  });
  const guarded = new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  // A whole body of announced length (within the cap, checked above) may instead go straight
  // to a file: fileTransferOf(guarded).
  if (response.status === 200 && method === "GET" && length !== undefined) {
    offerFileTransfer(guarded, response, {
      idleMs: policy.idleTimeoutMs,
      deadline: bodyDeadline,
      expectedBytes: length,
      abort,
      toError: options.errors.body,
    });
  }
  return guarded;
}

/**
 * The body's length as the caller will read it: the Content-Length, unless a content coding
 * (gzip, br) was applied, which fetch undoes, so that the header gives the length of other
 * bytes. Such a body is held to the cap as it is read, not to the header.
 */
export function decodedLength(response: Response): number | undefined {
  const coding = response.headers.get("content-encoding");
  if (coding !== null && coding.trim() !== "" && coding.trim().toLowerCase() !== "identity") {
    return undefined;
  }
  const declared = response.headers.get("content-length");
  return declared === null || declared.trim() === "" ? undefined : Number(declared);
}

/** Attempts with the headers timeout, retried while transient, all within `deadline`. */
function sendWithRetries(
  fetch: FetchLike,
  url: string,
  init: RequestInit,
  policy: FetchPolicy,
  options: PolicyFetchOptions & { method: string; deadline: number },
) {
  const transient = new WeakSet<object>();
  const noAnswer = (failure: AttemptFailure) => {
    const error = options.errors.noAnswer(failure);
    if (!failure.timedOut && typeof error === "object" && error !== null) transient.add(error);
    return error;
  };
  return retryTransient(
    () => {
      const timeoutMs = Math.min(policy.headersTimeoutMs, options.deadline - performance.now());
      if (timeoutMs <= 0) {
        throw noAnswer({ timedOut: true, waitedMs: 0, error: undefined });
      }
      return fetchAttempt(fetch, url, init, {
        timeoutMs,
        toError: noAnswer,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },
    policy,
    {
      method: options.method,
      deadline: options.deadline,
      isTransientError: (error) =>
        typeof error === "object" && error !== null && transient.has(error),
      replayable: isReplayable(init.body),
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
}

/** A body that can be sent again: none, or one held in memory (not a stream). */
function isReplayable(body: RequestInit["body"]): boolean {
  return body === undefined || body === null || typeof body === "string" ||
    body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof Blob ||
    body instanceof URLSearchParams;
}
