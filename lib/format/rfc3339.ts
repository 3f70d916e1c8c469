/**
 * Formats a time as TiUP writes it: RFC 3339 in UTC with no fractional seconds
 * ("2026-11-22T14:00:00Z"), which is Go's time.RFC3339 for a UTC time.
 */
export function formatRfc3339(time: Date): string {
  if (Number.isNaN(time.getTime())) throw new RangeError("Cannot format an invalid date");
  return time.toISOString().replace(/\.\d{3}Z$/, "Z");
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Parses any RFC 3339 time (fractions and offsets included), as Go's time.Parse(RFC3339) does.
 * Throws SyntaxError on anything else, so a malformed `expires` is never read as "no expiry".
 * Out-of-range fields are refused as Go refuses them ("2021-02-31", hour 24, second 60), rather
 * than rolled over the way JavaScript's Date does. Fractions finer than a millisecond are
 * truncated.
 */
export function parseRfc3339(text: string): Date {
  const match = typeof text === "string" ? RFC3339.exec(text) : null;
  if (!match) throw new SyntaxError(`Cannot parse time: "${text}" is not RFC 3339`);
  const [, y, mo, d, h, mi, s, fraction = "", zone = "Z"] = match;
  const year = Number(y), month = Number(mo), day = Number(d);
  const hour = Number(h), minute = Number(mi), second = Number(s);
  const offset = /^[Zz]$/.test(zone) ? 0 : (zone.startsWith("-") ? -1 : 1) *
    (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const inRange = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) &&
    hour <= 23 && minute <= 59 && second <= 59 && Number(zone.slice(1, 3) || 0) <= 23 &&
    Number(zone.slice(4, 6) || 0) <= 59;
  if (!inRange) throw new SyntaxError(`Cannot parse time: "${text}" is not a real date`);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(
    hour,
    minute - offset,
    second,
    Math.trunc(Number(`0${fraction || "."}0`) * 1000),
  );
  return date;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Adds whole days to a time. */
export function addDays(time: Date, days: number): Date {
  return new Date(time.getTime() + days * 24 * 60 * 60 * 1000);
}
