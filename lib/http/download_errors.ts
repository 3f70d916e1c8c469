import { DownloadError, TooLargeError } from "../errors.ts";
import type { FetchErrors, FetchPolicy } from "./fetch_policy.ts";

/**
 * The fetch policy's failures as lib/errors.ts's download errors (DownloadError, TooLargeError),
 * every message naming `url`: what a client that reads files over HTTP reports.
 *
 * @example
 * ```ts
 * await fetchWithPolicy(fetch, url, { method: "GET" }, policy, {
 *   errors: downloadErrors(url, policy),
 * });
 * ```
 */
export function downloadErrors(
  url: string,
  policy: Pick<FetchPolicy, "deadlineAllowanceMs" | "idleTimeoutMs" | "minBytesPerSecond">,
): FetchErrors {
  const cannot = (why: string, options?: ErrorOptions) =>
    new DownloadError(`Cannot fetch "${url}": ${why}`, options);
  return {
    noAnswer: ({ timedOut, waitedMs, error }) =>
      !timedOut ? cannot(messageOf(error), { cause: error }) : waitedMs > 0
        // Silent, not flaky: asking again would multiply the wait by the retries.
        ? cannot(`no answer within ${seconds(waitedMs)} s`)
        : cannot(`no answer before its deadline (${seconds(policy.deadlineAllowanceMs)} s)`),
    body: (failure) => {
      switch (failure.kind) {
        case "too-large":
          return new TooLargeError(url, failure.limit);
        case "stalled":
          return cannot(`stalled for ${seconds(policy.idleTimeoutMs)} s`);
        case "too-slow":
          return cannot(
            `${failure.bytes} bytes in, and the transfer is slower than the ` +
              `${policy.minBytesPerSecond} bytes/s allowed`,
          );
        case "truncated":
          return cannot(`the transfer ended after ${failure.bytes} of ${failure.expected} bytes`);
        case "broken":
          return cannot(`the transfer broke off: ${messageOf(failure.error)}`, {
            cause: failure.error,
          });
      }
    },
  };
}

/**
 * An error's message with those of its causes: Deno's fetch says only "fetch failed" and puts
 * the reason (a refused connection, a TLS alert) in `cause`. A failed TLS handshake gets its
 * likely reasons (Bun's message does not say which).
 */
function messageOf(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    const message = String((current as Error)?.message ?? current);
    if (!parts.includes(message)) parts.push(message);
    current = (current as Error)?.cause;
  }
  const text = parts.join(": ");
  if (/CertificateRequired|certificate required/i.test(text)) {
    return `${text} (the server asks for a client certificate)`;
  }
  return /handshake failed/i.test(text)
    ? `${text} (the server may ask for a client certificate, or not speak TLS on that port)`
    : text;
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
