/**
 * One run of an operation per key, however many callers ask while it runs: the first caller
 * starts it, later callers get the same promise. Nothing is remembered once it settles.
 */
export class SingleFlight<T> {
  readonly #running = new Map<string, Promise<T>>();

  /** The running operation for `key`, or `work()` started as it; `joined` when it was running. */
  run(key: string, work: () => Promise<T>): { result: Promise<T>; joined: boolean } {
    const running = this.#running.get(key);
    if (running) return { result: running, joined: true };
    const result = work().finally(() => this.#running.delete(key));
    this.#running.set(key, result);
    // A caller may give up; an unobserved rejection must not crash the process.
    result.catch(() => {});
    return { result, joined: false };
  }
}
