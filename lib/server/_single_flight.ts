/**
 * One promise per key at a time: callers asking for a key whose work is under way share its
 * result instead of starting their own. What a busy server needs so that a thousand clients
 * asking for one object at once cost the object store one request, not a thousand.
 */
export class SingleFlight<T> {
  readonly #running = new Map<string, Promise<T>>();

  /** The result of `work()` for `key`, shared with every caller while it runs. */
  run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#running.get(key);
    if (running !== undefined) return running;
    const started = work().finally(() => {
      if (this.#running.get(key) === started) this.#running.delete(key);
    });
    this.#running.set(key, started);
    return started;
  }

  /** How many keys have work under way (tests). */
  get size(): number {
    return this.#running.size;
  }
}
