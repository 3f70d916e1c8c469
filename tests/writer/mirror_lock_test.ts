import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { hostname } from "node:os";
import { describe, it } from "node:test";
import { AlreadyExistsError, StorageError } from "../../lib/errors.ts";
import { acquireMirrorLock, LOCK_PATH, TEMP_FILE_GRACE_MS } from "../../lib/writer/mirror_lock.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { readText } from "../../lib/storage/read_bytes.ts";
import { tempDir } from "../_simulator.ts";

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["--version"]);
  assert.ok(child.pid);
  return child.pid;
}

describe("acquireMirrorLock()", () => {
  it("writes the owner's pid, host and time, and release removes it", async () => {
    const storage = new MemoryStorage();
    const lock = await acquireMirrorLock(storage, { now: new Date("2026-01-01T00:00:00Z") });
    const held = JSON.parse(await readText(storage, LOCK_PATH));
    assert.equal(held.pid, process.pid);
    assert.equal(held.host, hostname());
    assert.equal(held.since, "2026-01-01T00:00:00Z");
    await lock.release();
    await assert.rejects(storage.stat(LOCK_PATH));
    await lock.release(); // idempotent
  });

  it("refuses a second writer with a message naming the holder", async () => {
    const storage = new MemoryStorage("mem://m");
    const first = await acquireMirrorLock(storage, { owner: { pid: 7, host: "builder" } });
    await assert.rejects(
      acquireMirrorLock(storage, { waitMs: 0 }),
      (error: Error) =>
        error instanceof StorageError && error.cause instanceof AlreadyExistsError &&
        /another writer \(pid 7 on "builder"/.test(error.message) &&
        /remove that file/.test(error.message),
    );
    await first.release();
    const second = await acquireMirrorLock(storage);
    await second.release();
  });

  it("waits for a lock file another writer removes, then takes it", async () => {
    const storage = new MemoryStorage("mem://m");
    const first = await acquireMirrorLock(storage, { owner: { pid: 7, host: "builder" } });
    const told: string[] = [];
    const waiting = acquireMirrorLock(storage, { onWait: (message) => told.push(message) });
    while (told.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.match(told[0]!, /^Waiting for another writer \(pid 7 on "builder"/);
    await first.release();
    await (await waiting).release();
  });

  it("replaces a stale lock left by a dead process on this host", async () => {
    const storage = new MemoryStorage();
    await acquireMirrorLock(storage, { owner: { pid: deadPid(), host: hostname() } });
    const lock = await acquireMirrorLock(storage);
    assert.equal(JSON.parse(await readText(storage, LOCK_PATH)).pid, process.pid);
    await lock.release();
  });

  it("does not break a lock held by a live process on this host", async () => {
    const storage = new MemoryStorage();
    await acquireMirrorLock(storage, { owner: { pid: process.pid, host: hostname() } });
    await assert.rejects(acquireMirrorLock(storage, { waitMs: 0 }), /another writer/);
  });

  it("does not break a lock from another host, whose processes it cannot see", async () => {
    const storage = new MemoryStorage();
    await acquireMirrorLock(storage, { owner: { pid: deadPid(), host: "other-host" } });
    await assert.rejects(
      acquireMirrorLock(storage, { isAlive: () => false, waitMs: 0 }),
      /"other-host"/,
    );
  });

  it("release leaves alone a lock another writer took over", async () => {
    const storage = new MemoryStorage();
    const mine = await acquireMirrorLock(storage);
    await storage.delete(LOCK_PATH);
    const theirs = await acquireMirrorLock(storage, { owner: { pid: 99, host: "x" } });
    await mine.release();
    assert.equal(JSON.parse(await readText(storage, LOCK_PATH)).pid, 99);
    await theirs.release();
  });

  it("refuses a lock file it did not write, saying what to do", async () => {
    const storage = new MemoryStorage();
    await storage.write(LOCK_PATH, "");
    await assert.rejects(acquireMirrorLock(storage), /not a ferry lock.*remove it/);
  });

  it("lets exactly one of many concurrent writers in on a local directory", async () => {
    const { dir, remove } = await tempDir("ferry-lock");
    try {
      const storage = new LocalStorage(dir);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, () => acquireMirrorLock(new LocalStorage(dir), { waitMs: 0 })),
      );
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
      const winner = results.find((r) => r.status === "fulfilled");
      await (winner as PromiseFulfilledResult<{ release(): Promise<void> }>).value.release();
      // flock(2) on a lock file that stays, as TiUP's: emptied, never removed.
      assert.equal((await storage.stat(LOCK_PATH)).size, 0);
      const again = await acquireMirrorLock(storage);
      await again.release();
    } finally {
      await remove();
    }
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** One taker's view of a shared object store, with hooks around its lock reads and writes. */
function takerView(
  inner: MemoryStorage,
  hooks: { onLockRead(): void; onLockWritten(): void; beforeLockDelete(): Promise<void> },
): Storage {
  return {
    location: inner.location,
    stat: (path) => inner.stat(path),
    list: (prefix) => inner.list(prefix),
    async read(path, options) {
      const object = await inner.read(path, options);
      if (path === LOCK_PATH) hooks.onLockRead();
      return object;
    },
    async write(path, data, options) {
      const stat = await inner.write(path, data, options);
      if (path === LOCK_PATH) hooks.onLockWritten();
      return stat;
    },
    async delete(path) {
      if (path === LOCK_PATH) await hooks.beforeLockDelete();
      await inner.delete(path);
    },
  };
}

describe("acquireMirrorLock() on storages without file locks", () => {
  it("takes over a stale lock atomically: of two racing takers only one gets it", async () => {
    const inner = new MemoryStorage("mem://race");
    await acquireMirrorLock(inner, { owner: { pid: 4_000_000, host: hostname() } });
    // The schedule that breaks check-then-unlink: both takers read the stale lock before
    // either removes it, and the second removes it only after the first has made its own.
    const state = ["a", "b"].map(() => ({
      reads: 0,
      twoReads: deferred(),
      wrote: deferred(),
      settled: deferred(),
    }));
    const view = (me: 0 | 1) => {
      const other = state[1 - me]!;
      return takerView(inner, {
        onLockRead() {
          if (++state[me]!.reads === 2) state[me]!.twoReads.resolve();
        },
        onLockWritten: () => state[me]!.wrote.resolve(),
        beforeLockDelete: () =>
          Promise.race([
            me === 0 ? other.twoReads.promise : other.wrote.promise,
            other.settled.promise,
          ]),
      });
    };
    const takers = ([0, 1] as const).map((me) =>
      acquireMirrorLock(view(me), { isAlive: () => false, waitMs: 0 }).finally(() =>
        state[me]!.settled.resolve()
      )
    );
    const results = await Promise.allSettled(takers);
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1, "both takers believe they hold the lock");
    const loser = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.ok(loser.reason instanceof StorageError, String(loser.reason));
    const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireMirrorLock>>>)
      .value;
    assert.equal(JSON.parse(await readText(inner, LOCK_PATH)).token, winner.owner.token);
    await winner.release();
    assert.deepEqual(await Array.fromAsync(inner.list("")), []);
  });
});

/** Runs `flock(1)` (util-linux, flock(2)) on `file` with `args`; returns its exit status. */
function flockStatus(file: string, ...args: string[]): number | null {
  return spawnSync("flock", [...args, file, "true"]).status;
}

describe("acquireMirrorLock() on a local directory: flock(2) on <mirror>/lock, as TiUP", () => {
  it("writes to a mirror holding TiUP's empty 0600 lock file, and leaves it so", async () => {
    const { dir, remove } = await tempDir("ferry-lock");
    try {
      const file = nodePath.join(dir, LOCK_PATH);
      await fs.writeFile(file, "", { mode: 0o600 });
      const storage = new LocalStorage(dir);
      const lock = await acquireMirrorLock(storage);
      assert.equal(JSON.parse(await readText(storage, LOCK_PATH)).pid, process.pid);
      await lock.release();
      const info = await fs.stat(file);
      assert.equal(info.size, 0);
      assert.equal(info.mode & 0o777, 0o600);
    } finally {
      await remove();
    }
  });

  it("waits out a tiup-style writer: refused while another process flocks lock", async () => {
    const { dir, remove } = await tempDir("ferry-lock");
    const file = nodePath.join(dir, LOCK_PATH);
    // Its own process group, so that the holder and its sleep are killed together.
    const holder = spawn("flock", [file, "sleep", "60"], { stdio: "ignore", detached: true });
    const killHolder = () => {
      try {
        process.kill(-holder.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    };
    try {
      // Held once flock -n fails (no sleeping on a clock: poll the lock itself).
      while (flockStatus(file, "-n") === 0) await new Promise((r) => setTimeout(r, 20));
      await assert.rejects(
        acquireMirrorLock(new LocalStorage(dir), { waitMs: 0 }),
        (error: Error) =>
          error instanceof StorageError && error.cause instanceof AlreadyExistsError &&
          /another process \(a tiup or ferry writer\) holds the lock/.test(error.message),
      );
      const exited = new Promise((resolve) => holder.once("exit", resolve));
      killHolder();
      await exited;
      // The sleep may outlive flock by a moment: the lock is free once flock -n gets it.
      while (flockStatus(file, "-n") !== 0) await new Promise((r) => setTimeout(r, 20));
      const lock = await acquireMirrorLock(new LocalStorage(dir));
      await lock.release();
    } finally {
      killHolder();
      await remove();
    }
  });

  it("waits for a writer that finishes, saying once who holds the lock", async () => {
    const { dir, remove } = await tempDir("ferry-lock");
    try {
      const first = await acquireMirrorLock(new LocalStorage(dir), {
        owner: { pid: 7, host: "builder" },
      });
      const told: string[] = [];
      const waiting = acquireMirrorLock(new LocalStorage(dir), {
        onWait: (message) => told.push(message),
      });
      // Released only once the second writer has said that it waits (no sleeping on a clock).
      while (told.length === 0) await new Promise((r) => setTimeout(r, 10));
      await first.release();
      const second = await waiting;
      assert.equal(JSON.parse(await readText(new LocalStorage(dir), LOCK_PATH)).pid, process.pid);
      await second.release();
      assert.equal(told.length, 1, told.join("\n"));
      assert.match(
        told[0]!,
        /^Waiting for another writer \(pid 7 on "builder", since .*\) to finish: it holds the lock on ".*\/lock"$/,
      );
    } finally {
      await remove();
    }
  });

  it("gives up after waitMs on a holder that never finishes, naming it", async () => {
    const { dir, remove } = await tempDir("ferry-lock");
    try {
      const holder = await acquireMirrorLock(new LocalStorage(dir), {
        owner: { pid: 7, host: "builder" },
      });
      await assert.rejects(
        acquireMirrorLock(new LocalStorage(dir), { waitMs: 300 }),
        (error: Error) =>
          error instanceof StorageError && error.cause instanceof AlreadyExistsError &&
          /another writer \(pid 7 on "builder", since [^)]+\) holds the lock on ".*\/lock" \(waited \d+ s\); wait for it to finish and retry/
            .test(error.message),
      );
      await holder.release();
    } finally {
      await remove();
    }
  });

  it("keeps a tiup-style writer out while ferry holds it", async () => {
    const { dir, remove } = await tempDir("ferry-lock");
    try {
      const file = nodePath.join(dir, LOCK_PATH);
      const lock = await acquireMirrorLock(new LocalStorage(dir));
      assert.equal(flockStatus(file, "-n"), 1);
      await lock.release();
      assert.equal(flockStatus(file, "-n"), 0);
    } finally {
      await remove();
    }
  });

  it("sweeps interrupted writes' temp files when it takes the lock, not fresh ones", async () => {
    const { dir, remove } = await tempDir("ferry-lock");
    try {
      const old = new Date(Date.now() - TEMP_FILE_GRACE_MS - 60_000);
      await fs.mkdir(nodePath.join(dir, "commits", "commit-1"), { recursive: true });
      for (const name of [".ferry-tmp-0a", "commits/commit-1/.ferry-tmp-0b", ".ferry-tmp-0c"]) {
        await fs.writeFile(nodePath.join(dir, name), "partial");
      }
      for (const name of [".ferry-tmp-0a", "commits/commit-1/.ferry-tmp-0b"]) {
        await fs.utimes(nodePath.join(dir, name), old, old);
      }
      await fs.writeFile(nodePath.join(dir, "keep.json"), "{}");
      await fs.utimes(nodePath.join(dir, "keep.json"), old, old);
      const lock = await acquireMirrorLock(new LocalStorage(dir));
      await lock.release();
      assert.deepEqual((await fs.readdir(dir)).sort(), [
        ".ferry-tmp-0c",
        "commits",
        "keep.json",
        "lock",
      ]);
      assert.deepEqual(await fs.readdir(nodePath.join(dir, "commits", "commit-1")), []);
    } finally {
      await remove();
    }
  });
});
