import { type Clock, systemClock } from "../lib/clock.ts";

/**
 * A token bucket per client: `requestsPerSecond` sustained, `burst` at once. Memory is bounded:
 * past 10 000 clients, full buckets (idle clients) are forgotten.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly requestsPerSecond: number,
    readonly burst: number,
    readonly now: Clock = systemClock,
  ) {}

  /** Takes one token for `client`: 0 when allowed, else the seconds to wait before retrying. */
  take(client: string): number {
    const bucket = this.#refill(client);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return this.#wait(bucket);
  }

  /** Like {@linkcode RateLimiter.take}, without taking: would `client` be allowed now? */
  peek(client: string): number {
    const bucket = this.#refill(client);
    return bucket.tokens >= 1 ? 0 : this.#wait(bucket);
  }

  /** Gives back a token taken for `client` (an attempt that turned out not to count). */
  refund(client: string): void {
    const bucket = this.#refill(client);
    bucket.tokens = Math.min(this.burst, bucket.tokens + 1);
  }

  #refill(client: string): { tokens: number; at: number } {
    const now = this.now().getTime();
    const bucket = this.#buckets.get(client) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(
      this.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.requestsPerSecond,
    );
    bucket.at = now;
    this.#buckets.set(client, bucket);
    if (this.#buckets.size > 10_000) this.#forgetIdle(now);
    return bucket;
  }

  #wait(bucket: { tokens: number }): number {
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.requestsPerSecond));
  }

  #forgetIdle(now: number): void {
    for (const [client, bucket] of this.#buckets) {
      const refilled = bucket.tokens + ((now - bucket.at) / 1000) * this.requestsPerSecond;
      if (refilled >= this.burst) this.#buckets.delete(client);
    }
  }
}
