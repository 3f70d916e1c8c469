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
 */
export function parseRfc3339(text: string): Date {
  if (typeof text !== "string" || !RFC3339.test(text)) {
    throw new SyntaxError(`Cannot parse time: "${text}" is not RFC 3339`);
  }
  const date = new Date(text.toUpperCase());
  if (Number.isNaN(date.getTime())) {
    throw new SyntaxError(`Cannot parse time: "${text}" is not a real date`);
  }
  return date;
}

/** Adds whole days to a time. */
export function addDays(time: Date, days: number): Date {
  return new Date(time.getTime() + days * 24 * 60 * 60 * 1000);
}
