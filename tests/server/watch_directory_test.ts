import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import { type DirectoryWatcher, watchDirectory } from "../../lib/server/watch_directory.ts";
import { eventCounter, settle, waitUntilWatched } from "./_watch_helpers.ts";

const TIMEOUT = { timeout: 60_000 };

async function withWatchedDir(
  body: (
    dir: string,
    events: ReturnType<typeof eventCounter>,
    watcher: DirectoryWatcher,
  ) => Promise<void>,
): Promise<void> {
  const dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-watch-"));
  await fs.mkdir(nodePath.join(dir, "keys"));
  await fs.mkdir(nodePath.join(dir, "sub"));
  await fs.writeFile(nodePath.join(dir, "a.json"), "a");
  await fs.writeFile(nodePath.join(dir, "keys", "k.json"), "key");
  await fs.writeFile(nodePath.join(dir, "sub", "b.json"), "b");
  const watcher = watchDirectory(dir);
  try {
    const events = eventCounter(watcher);
    await waitUntilWatched(events, dir);
    await body(dir, events, watcher);
  } finally {
    watcher.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function renameOver(target: string, text: string): Promise<void> {
  const temp = nodePath.join(nodePath.dirname(target), ".ferry-tmp-0000");
  await fs.writeFile(temp, text);
  await fs.rename(temp, target);
}

const CHANGES: Array<[string, (dir: string) => Promise<void>]> = [
  ["a file renamed over", (dir) => renameOver(nodePath.join(dir, "a.json"), "A")],
  ["a file deleted", (dir) => fs.rm(nodePath.join(dir, "a.json"))],
  ["a file written in place", (dir) => fs.appendFile(nodePath.join(dir, "a.json"), "+")],
  ["a file replaced by a symlink to a key", async (dir) => {
    await fs.symlink("keys/k.json", nodePath.join(dir, ".link"));
    await fs.rename(nodePath.join(dir, ".link"), nodePath.join(dir, "a.json"));
  }],
  [
    "a file renamed over in a subdirectory",
    (dir) => renameOver(nodePath.join(dir, "sub", "b.json"), "B"),
  ],
  ["a key changed", (dir) => renameOver(nodePath.join(dir, "keys", "k.json"), "other")],
  ["a mode changed", (dir) => fs.chmod(nodePath.join(dir, "a.json"), 0o600)],
];

for (const [what, change] of CHANGES) {
  test(`watchDirectory() reports ${what}`, TIMEOUT, () =>
    withWatchedDir(async (dir, events) => {
      const seen = events.next();
      await change(dir);
      await seen;
    }));
}

test(
  "watchDirectory() reports changes in a subdirectory made after it started",
  TIMEOUT,
  () =>
    withWatchedDir(async (dir, events) => {
      const later = nodePath.join(dir, "later");
      const made = events.next();
      await fs.mkdir(later);
      await made;
      await waitUntilWatched(events, later);
      const seen = events.next();
      await renameOver(nodePath.join(later, "c.json"), "C");
      await seen;
    }),
);

test(
  "watchDirectory() reports nothing for reads",
  TIMEOUT,
  () =>
    withWatchedDir(async (dir, events) => {
      const before = events.count;
      for (let i = 0; i < 20; i++) {
        await fs.readFile(nodePath.join(dir, "a.json"));
        await fs.stat(nodePath.join(dir, "sub", "b.json"));
        await fs.readdir(dir);
      }
      await settle(events);
      assert.equal(events.count, before);
    }),
);

test(
  "watchDirectory() reports nothing once closed",
  TIMEOUT,
  () =>
    withWatchedDir(async (dir, events, watcher) => {
      watcher.close();
      assert.equal(watcher.watching, false);
      const before = events.count;
      await renameOver(nodePath.join(dir, "a.json"), "A");
      await settle(events);
      assert.equal(events.count, before);
      watcher.close(); // idempotent
    }),
);

test("watchDirectory() on a missing directory says so and does not watch", async () => {
  const errors: unknown[] = [];
  const missing = nodePath.join(tmpdir(), `ferry-watch-missing-${process.pid}-${Date.now()}`);
  const watcher = watchDirectory(missing, { onError: (error) => errors.push(error) });
  try {
    let notified = 0;
    watcher.onChange(() => notified++);
    // Some runtimes fail at once, others report the error a moment later.
    for (let i = 0; i < 100 && errors.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(errors.length, 1);
    assert.equal(watcher.watching, false);
    assert.ok(notified <= 1);
  } finally {
    watcher.close();
  }
});
