import { addDays, formatRfc3339, parseRfc3339 } from "./rfc3339.ts";

/**
 * TiUP's `RenewManifest` expiry rule: the new expiry is `now + days`, unless the current one is
 * already later, so renewing never shortens a manifest's life. An unparseable current expiry is
 * replaced. The result is RFC 3339 in UTC without fractions.
 *
 * @example
 * ```ts
 * extendExpiry("2020-01-01T00:00:00Z", new Date("2026-01-01T00:00:00Z"), 30);
 * // "2026-01-31T00:00:00Z"
 * ```
 */
export function extendExpiry(current: string | undefined, now: Date, days: number): string {
  if (!Number.isFinite(days) || days < 0) {
    throw new RangeError(`Cannot extend an expiry by ${days} days: use a positive number`);
  }
  const target = addDays(now, days);
  if (current !== undefined) {
    try {
      const existing = parseRfc3339(current);
      if (existing.getTime() >= target.getTime()) return formatRfc3339(existing);
    } catch {
      // Go's RenewManifest also replaces an expiry it cannot parse.
    }
  }
  return formatRfc3339(target);
}
