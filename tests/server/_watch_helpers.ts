/**
 * Helpers for tests that wait on change notifications: a watch is only known to be live once
 * it reported something, and every wait is bounded so a missing event fails instead of hanging.
 *
 * @module
 */
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import type { ChangeNotifier } from "../../lib/server/watch_directory.ts";

/** Counts notifications and lets a test wait for the next one. */
export function eventCounter(notifier: ChangeNotifier) {
  let count = 0;
  let waiters: Array<() => void> = [];
  notifier.onChange(() => {
    count++;
    const woken = waiters;
    waiters = [];
    for (const wake of woken) wake();
  });
  return {
    get count() {
      return count;
    },
    /** Resolves at the next notification; rejects after `limitMs` (a hang guard, not a check). */
    next(limitMs = 20_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no change notification within ${limitMs} ms`)),
          limitMs,
        );
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/**
 * Touches a probe file in `dir` until the watch reports it: from then on the watch (and, for a
 * subdirectory, its part of a recursive watch) is live. Removes the probe and waits for that
 * event too, so no stray notification arrives later.
 */
export async function waitUntilWatched(
  events: ReturnType<typeof eventCounter>,
  dir: string,
): Promise<void> {
  const probe = nodePath.join(dir, ".probe");
  for (let attempt = 0; attempt < 200; attempt++) {
    const seen = events.next(100).then(() => true, () => false);
    await fs.writeFile(probe, String(attempt));
    if (await seen) {
      await settle(events);
      await fs.rm(probe, { force: true });
      await settle(events);
      return;
    }
  }
  throw new Error(`the watch on "${dir}" never reported anything`);
}

/** Waits until no notification has come for 100 ms (one write can give several events). */
export async function settle(events: ReturnType<typeof eventCounter>): Promise<void> {
  while (true) {
    const before = events.count;
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (events.count === before) return;
  }
}
