import type { Storage } from "../lib/storage/storage.ts";
import { evictCache, type EvictionResult } from "./evict_cache.ts";

/** Options for {@linkcode EvictionScheduler}. */
export interface EvictionSchedulerOptions {
  /** The cache's size limit; eviction brings it down to 90 % of this. */
  maxBytes: number;
  /** Bytes of downloads in flight (they count against the limit, and cannot be evicted). */
  inflightBytes: () => number;
  /** Keys that must stay (being downloaded right now). */
  isPinned: (key: string) => boolean;
  /** Last use of a key (epoch ms), when known. */
  lastUsed: (key: string) => number | undefined;
  /** Runs the pass in the background (so that `idle()` waits for it). */
  track: (work: Promise<unknown>) => void;
  onEvicted: (result: EvictionResult) => void;
  onError: (error: Error) => void;
}

/**
 * Runs eviction passes over a size-limited cache when it grew: at most one pass at a time, and
 * growth during a pass asks for one more pass after it (not one per growth), so a burst of
 * commits costs one or two listings of the cache, not one each.
 */
export class EvictionScheduler {
  readonly #storage: Storage;
  readonly #options: EvictionSchedulerOptions;
  #running = false;
  #again = false;

  constructor(storage: Storage, options: EvictionSchedulerOptions) {
    this.#storage = storage;
    this.#options = options;
  }

  /** Something was added to the cache: check the size limit soon. */
  grew(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#options.track(this.#run());
  }

  async #run(): Promise<void> {
    const options = this.#options;
    do {
      this.#again = false;
      try {
        options.onEvicted(
          await evictCache(this.#storage, {
            targetBytes: Math.floor(options.maxBytes * 0.9),
            inflightBytes: options.inflightBytes(),
            lastUsed: options.lastUsed,
            isPinned: options.isPinned,
          }),
        );
      } catch (error) {
        options.onError(error as Error);
      }
    } while (this.#again);
    this.#running = false;
  }
}
