/**
 * ferry's one clock type. Anything that needs "now" more than once (a cache's TTLs, a token's
 * expiry, a circuit breaker, a progress line, a trust core checking expiry) takes a `Clock`, so a
 * test can fix or step time; an operation that works at one instant takes a `Date` read from one.
 *
 * @module
 */

/** Where "now" comes from. */
export type Clock = () => Date;

/** The system clock. */
export const systemClock: Clock = () => new Date();
