/** Options for {@linkcode forEachLimited}. */
export interface ForEachLimitedOptions {
  /** Stop taking new items once aborted; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Runs `work` on every item with at most `limit` running at once (downloads, hashing, manifest
 * fetches). Items are taken in order; `work` gets each item's index. Every started item is let
 * finish before the call settles, and the first failure is then rethrown, so no work is left
 * running behind a rejected promise.
 *
 * @example
 * ```ts
 * await forEachLimited(paths, 8, async (path) => await fetchOne(path));
 * ```
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
  options: ForEachLimitedOptions = {},
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      if (options.signal?.aborted) throw options.signal.reason ?? new Error("Aborted");
      const index = next++;
      await work(items[index] as T, index);
    }
  };
  const workers = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  const results = await Promise.allSettled(Array.from({ length: workers }, worker));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) throw failure.reason;
}
