import type { FetchLike } from "./fetch_like.ts";

/** Why an attempt got no response. */
export interface AttemptFailure {
  /** True when the headers timeout ended it (the server is silent, not flaky). */
  timedOut: boolean;
  /** How long the attempt was allowed to wait for headers. */
  waitedMs: number;
  /** What fetch threw (an abort error when `timedOut`). */
  error: unknown;
}

/** Options for {@linkcode fetchAttempt}. */
export interface FetchAttemptOptions {
  /** Time allowed until response headers arrive. */
  timeoutMs: number;
  /** The caller's cancellation: aborts the attempt, and its body later on. */
  signal?: AbortSignal;
  /** The error to throw for an attempt without a response (default: what fetch threw). */
  toError?: (failure: AttemptFailure) => unknown;
}

/** A response and the switch that closes its connection (for a body that has to be cut off). */
export interface AttemptResponse {
  response: Response;
  abort: () => void;
}

/**
 * One request with a headers timeout. The body is not read: the returned `abort` closes the
 * connection, which a body guard uses once the body has failed. A cancelled `signal` rejects
 * with its reason, not with a mapped failure, so a stop by the user never reads as a network
 * fault.
 *
 * @example
 * ```ts
 * const { response } = await fetchAttempt(fetch, "https://mirror/timestamp.json",
 *   { method: "GET" }, { timeoutMs: 10_000 });
 * ```
 */
export async function fetchAttempt(
  fetch: FetchLike,
  url: string,
  init: RequestInit,
  options: FetchAttemptOptions,
): Promise<AttemptResponse> {
  const { signal } = options;
  signal?.throwIfAborted();
  const controller = new AbortController();
  // AbortSignal.any holds the caller's signal weakly: no listener piles up on a long-lived one.
  const combined = signal ? AbortSignal.any([controller.signal, signal]) : controller.signal;
  const waitedMs = Math.max(0, options.timeoutMs);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, waitedMs);
  try {
    const response = await fetch(url, { ...init, signal: combined });
    return { response, abort: () => controller.abort() };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw options.toError ? options.toError({ timedOut, waitedMs, error }) : error;
  } finally {
    clearTimeout(timer);
  }
}
