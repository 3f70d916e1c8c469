/**
 * The mirror server's memory of small files: what a hot GET costs (no storage call within the
 * revalidation interval), and how every way a file can change on disk ends that memory: a
 * change notification from the directory watch, or the revalidation interval where no
 * notification comes (the fallback, tested with watching disabled).
 *
 * @module
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import { createMirrorServer } from "../../lib/server/mirror_server.ts";
import { type ChangeNotifier, watchDirectory } from "../../lib/server/watch_directory.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import type { ListableStorage, StorageReader, SyncStatStorage } from "../../lib/storage/storage.ts";
import { eventCounter, waitUntilWatched } from "./_watch_helpers.ts";

const SNAPSHOT = '{"signed":{"_type":"snapshot","version":1}}';
const NEXT_SNAPSHOT = '{"signed":{"_type":"snapshot","version":2}}';
// The same length as SNAPSHOT: only what the file is, not its size, tells them apart.
const SECRET = '{"PRIVATE KEY":"do-not-serve-this-one"}'.padEnd(SNAPSHOT.length, "!");
const MTIME = new Date(1_700_000_000_000);
const TIMEOUT = { timeout: 60_000 };

/** Counts the storage calls the server makes. */
function counting(storage: LocalStorage) {
  const calls = { stat: 0, statSync: 0, read: 0 };
  const reader: StorageReader & SyncStatStorage & ListableStorage = {
    location: storage.location,
    stat: (path) => (calls.stat++, storage.stat(path)),
    statSync: (path) => (calls.statSync++, storage.statSync(path)),
    read: (path, options) => (calls.read++, storage.read(path, options)),
    list: (prefix) => storage.list(prefix),
  };
  return { reader, calls, total: () => calls.stat + calls.statSync + calls.read };
}

async function makeMirror() {
  const base = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-server-cache-"));
  const root = nodePath.join(base, "mirror");
  await fs.mkdir(nodePath.join(root, "keys"), { recursive: true });
  await writeAt(nodePath.join(root, "snapshot.json"), SNAPSHOT);
  await writeAt(nodePath.join(root, "timestamp.json"), '{"signed":{"_type":"timestamp"}}');
  await writeAt(nodePath.join(root, "keys", "abc-root.json"), SECRET);
  return { base, root, remove: () => fs.rm(base, { recursive: true, force: true }) };
}

/** Writes `text` at `path` with the fixed mtime every file here has. */
async function writeAt(path: string, text: string): Promise<void> {
  await fs.writeFile(path, text);
  await fs.utimes(path, MTIME, MTIME);
}

/**
 * The changes a publish (or an attacker with write access) can make to a hot file. Each keeps
 * the size and mtime of the file it replaces, so that only what the file is shows the change.
 */
const CHANGES: Array<{
  what: string;
  change: (root: string) => Promise<void>;
  expect: { status: number; body?: string };
}> = [
  {
    what: "renamed over (same size and mtime)",
    change: async (root) => {
      const temp = nodePath.join(root, ".ferry-tmp-0123456789abcdef");
      await writeAt(temp, NEXT_SNAPSHOT);
      await fs.rename(temp, nodePath.join(root, "snapshot.json"));
    },
    expect: { status: 200, body: NEXT_SNAPSHOT },
  },
  {
    what: "deleted",
    change: (root) => fs.rm(nodePath.join(root, "snapshot.json")),
    expect: { status: 404 },
  },
  {
    what: "replaced by a symlink to a private key (same size and mtime)",
    change: async (root) => {
      const link = nodePath.join(root, ".ferry-tmp-link");
      await fs.symlink("keys/abc-root.json", link);
      await fs.rename(link, nodePath.join(root, "snapshot.json"));
    },
    expect: { status: 404 },
  },
];

async function get(app: ReturnType<typeof createMirrorServer>, path: string, init?: RequestInit) {
  const response = await app.request(path, init);
  return { status: response.status, body: await response.text(), headers: [...response.headers] };
}

async function assertAnswer(
  app: ReturnType<typeof createMirrorServer>,
  expect: { status: number; body?: string },
): Promise<void> {
  const answer = await get(app, "/snapshot.json");
  assert.equal(answer.status, expect.status);
  if (expect.body !== undefined) assert.equal(answer.body, expect.body);
  assert.ok(!answer.body.includes("PRIVATE KEY"), "served the private key");
}

test("createMirrorServer() answers a hot file within the revalidation interval without touching storage", async () => {
  const mirror = await makeMirror();
  try {
    const storage = counting(new LocalStorage(mirror.root));
    const app = createMirrorServer(storage.reader, { revalidateMs: 1000, clock: () => 5000 });
    const first = await get(app, "/snapshot.json");
    assert.equal(first.body, SNAPSHOT);
    const before = storage.total();
    // A plain GET, a HEAD, a Range, a revalidation (304) and another spelling already seen.
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await get(app, "/snapshot.json"), first);
      assert.equal((await get(app, "/snapshot.json", { method: "HEAD" })).status, 200);
      const part = await get(app, "/snapshot.json", { headers: { range: "bytes=0-9" } });
      assert.equal(part.status, 206);
      assert.equal(part.body, SNAPSHOT.slice(0, 10));
      const etag = new Headers(first.headers).get("etag")!;
      const revalidated = await get(app, "/snapshot.json", { headers: { "if-none-match": etag } });
      assert.equal(revalidated.status, 304);
    }
    assert.equal(storage.total(), before);
  } finally {
    await mirror.remove();
  }
});

test("createMirrorServer() without an interval checks the file on every request", async () => {
  const mirror = await makeMirror();
  try {
    const storage = counting(new LocalStorage(mirror.root));
    const app = createMirrorServer(storage.reader);
    await get(app, "/snapshot.json");
    const before = storage.calls.statSync;
    await get(app, "/snapshot.json");
    await get(app, "/snapshot.json");
    assert.equal(storage.calls.statSync, before + 2);
  } finally {
    await mirror.remove();
  }
});

for (const { what, change, expect } of CHANGES) {
  test(`createMirrorServer() sees a hot file ${what} once the revalidation interval passed, with no watch`, async () => {
    const mirror = await makeMirror();
    try {
      let now = 10_000;
      const app = createMirrorServer(new LocalStorage(mirror.root), {
        revalidateMs: 1000,
        clock: () => now,
      });
      for (let i = 0; i < 2; i++) assert.equal((await get(app, "/snapshot.json")).body, SNAPSHOT);
      await change(mirror.root);
      // Within the interval the old (public) answer may still be given; never the key.
      await assertAnswer(app, { status: 200, body: SNAPSHOT });
      now += 1000;
      await assertAnswer(app, expect);
      await assertAnswer(app, expect);
    } finally {
      await mirror.remove();
    }
  });

  test(
    `createMirrorServer() sees a hot file ${what} at the next change notification`,
    TIMEOUT,
    async () => {
      const mirror = await makeMirror();
      const watcher = watchDirectory(mirror.root);
      try {
        // The interval never passes here: only the notification can end what is kept.
        const app = createMirrorServer(new LocalStorage(mirror.root), {
          changes: watcher,
          revalidateMs: 1000,
          clock: () => 10_000,
        });
        const events = eventCounter(watcher);
        await waitUntilWatched(events, mirror.root);
        for (let i = 0; i < 2; i++) assert.equal((await get(app, "/snapshot.json")).body, SNAPSHOT);
        const notified = events.next();
        await change(mirror.root);
        await notified;
        await assertAnswer(app, expect);
        await assertAnswer(app, expect);
      } finally {
        watcher.close();
        await mirror.remove();
      }
    },
  );
}

test("createMirrorServer() drops every kept file when one of them is seen changed (the mirror is seen whole)", async () => {
  const mirror = await makeMirror();
  try {
    let now = 10_000;
    const storage = counting(new LocalStorage(mirror.root));
    const app = createMirrorServer(storage.reader, { revalidateMs: 1000, clock: () => now });
    await get(app, "/snapshot.json");
    await get(app, "/timestamp.json");
    await CHANGES[0]!.change(mirror.root);
    now += 1000;
    assert.equal((await get(app, "/snapshot.json")).body, NEXT_SNAPSHOT);
    // timestamp.json did not change, but it is read again rather than trusted.
    const reads = storage.calls.read;
    await get(app, "/timestamp.json");
    assert.equal(storage.calls.read, reads + 1);
  } finally {
    await mirror.remove();
  }
});

test("createMirrorServer() does not keep a file read while a change was announced", async () => {
  const mirror = await makeMirror();
  try {
    const listeners: Array<() => void> = [];
    const changes: ChangeNotifier = { onChange: (listener) => listeners.push(listener) };
    const storage = counting(new LocalStorage(mirror.root));
    const announcing: StorageReader = {
      ...storage.reader,
      read: async (path, options) => {
        const object = await storage.reader.read(path, options);
        for (const listener of listeners) listener(); // the change lands mid-read
        return object;
      },
    };
    const app = createMirrorServer(announcing, { changes, revalidateMs: 1000, clock: () => 0 });
    assert.equal((await get(app, "/snapshot.json")).body, SNAPSHOT);
    assert.equal((await get(app, "/snapshot.json")).body, SNAPSHOT);
    assert.equal(storage.calls.read, 2);
  } finally {
    await mirror.remove();
  }
});

test("createMirrorServer() neither serves nor keeps a file replaced while it was read", async () => {
  const mirror = await makeMirror();
  try {
    const storage = new LocalStorage(mirror.root);
    let swaps = 0;
    const swapping: StorageReader & SyncStatStorage & ListableStorage = {
      location: storage.location,
      stat: (path) => storage.stat(path),
      statSync: (path) => storage.statSync(path),
      list: (prefix) => storage.list(prefix),
      read: async (path, options) => {
        const object = await storage.read(path, options);
        if (swaps++ === 0) await CHANGES[0]!.change(mirror.root); // after the read's own stat
        return object;
      },
    };
    const app = createMirrorServer(swapping, { revalidateMs: 1000, clock: () => 0 });
    const answer = await get(app, "/snapshot.json");
    // Whatever bytes were read, they are answered only under headers of the file they are.
    assert.equal(answer.body, NEXT_SNAPSHOT);
    const again = await get(app, "/snapshot.json");
    assert.deepEqual(again, answer);
    assert.ok(swaps >= 2);
  } finally {
    await mirror.remove();
  }
});
