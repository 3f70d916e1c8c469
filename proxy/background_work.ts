/**
 * Work a proxy does after its answer is sent (cache commits, evictions, sweeps), kept so that
 * `idle()` can wait for it: tests and a stopping server know when the cache is settled.
 */
export class BackgroundWork {
  readonly #pending = new Set<Promise<unknown>>();

  /** Keeps `work` until it settles; its failure is the caller's to handle. */
  track(work: Promise<unknown>): void {
    this.#pending.add(work);
    work.finally(() => this.#pending.delete(work)).catch(() => {});
  }

  /** Resolves when nothing tracked is in progress (including work started meanwhile). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
