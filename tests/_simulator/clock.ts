/**
 * The one clock of every simulated mirror: mirrors are created at T0 unless a test says
 * otherwise, and expiries are counted from it. (The real TiUP fixtures keep their own date,
 * FIXTURE_NOW in tests/_fixtures.ts: it is fixed by the data, not by us.)
 *
 * @module
 */

/** When simulated mirrors are made. */
export const T0 = new Date("2026-01-01T00:00:00Z");

/** T0 plus `days` days (negative for before). */
export function day(days: number): Date {
  return new Date(T0.getTime() + days * 86_400_000);
}
