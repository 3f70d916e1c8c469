import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { describe, it } from "node:test";
import { AlreadyExistsError, StorageError } from "../../lib/errors.ts";
import { acquireMirrorLock, LOCK_PATH } from "../../lib/repo/mirror_lock.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { readText } from "../../lib/storage/read_bytes.ts";
import { tempDir } from "./_writer_fixture.ts";

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
      acquireMirrorLock(storage),
      (error: Error) =>
        error instanceof StorageError && error.cause instanceof AlreadyExistsError &&
        /another writer \(pid 7 on "builder"/.test(error.message) &&
        /remove that file/.test(error.message),
    );
    await first.release();
    const second = await acquireMirrorLock(storage);
    await second.release();
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
    await assert.rejects(acquireMirrorLock(storage), /another writer/);
  });

  it("does not break a lock from another host, whose processes it cannot see", async () => {
    const storage = new MemoryStorage();
    await acquireMirrorLock(storage, { owner: { pid: deadPid(), host: "other-host" } });
    await assert.rejects(acquireMirrorLock(storage, { isAlive: () => false }), /"other-host"/);
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
        Array.from({ length: 8 }, () => acquireMirrorLock(new LocalStorage(dir))),
      );
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
      const winner = results.find((r) => r.status === "fulfilled");
      await (winner as PromiseFulfilledResult<{ release(): Promise<void> }>).value.release();
      await assert.rejects(storage.stat(LOCK_PATH));
    } finally {
      await remove();
    }
  });
});
