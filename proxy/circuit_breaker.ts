import type { Clock } from "../lib/clock.ts";

/** Options for {@linkcode CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failures: number;
  /** How long an open circuit refuses before it lets one probe through. */
  cooldownMs: number;
  now: Clock;
}

/**
 * Remembers that an upstream is down, so that requests stop waiting for it (a hung upstream
 * costs one timeout, not one per request). Closed: everything goes through. After `failures`
 * failures in a row it opens and {@linkcode CircuitBreaker.blockedFor} answers how long to
 * refuse. Once the cooldown is over, one request goes through as a probe while the others are
 * still refused for another cooldown; the probe's success closes the circuit, its failure keeps
 * it open. Pure: the clock is injected and nothing here does I/O.
 */
export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions;
  #consecutive = 0;
  #openUntil = 0;

  constructor(options: CircuitBreakerOptions) {
    this.#options = options;
  }

  /** True while the circuit is open (the upstream is considered down). */
  get open(): boolean {
    return this.#consecutive >= this.#options.failures;
  }

  /**
   * 0 when a request may go out now, else the milliseconds until the next probe. A 0 answered
   * while the circuit is open makes the caller the probe.
   */
  blockedFor(): number {
    if (!this.open) return 0;
    const now = this.#options.now().getTime();
    if (now < this.#openUntil) return this.#openUntil - now;
    this.#openUntil = now + this.#options.cooldownMs; // this caller probes; the rest wait
    return 0;
  }

  /** Records an exchange that got an answer from a working upstream. */
  success(): void {
    this.#consecutive = 0;
    this.#openUntil = 0;
  }

  /** Records an exchange that found the upstream down (no answer, timeout, 5xx). */
  failure(): void {
    this.#consecutive++;
    if (this.#consecutive === this.#options.failures) {
      this.#openUntil = this.#options.now().getTime() + this.#options.cooldownMs;
    }
  }
}
