/**
 * The delay a `Retry-After` header asks for, in ms (RFC 9110 10.2.3: delay-seconds or an
 * HTTP-date); `undefined` when absent or unreadable, 0 for a date in the past.
 *
 * @example
 * ```ts
 * retryAfterMs("120"); // 120000
 * ```
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP-date names its day and month ("Sun, 06 Nov 1994 08:49:37 GMT"); Date.parse would
  // also take "-1" as a year.
  if (!/^[A-Za-z]{3}, /.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
