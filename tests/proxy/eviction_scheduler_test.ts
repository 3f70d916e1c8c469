import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import type { EvictionResult } from "../../proxy/evict_cache.ts";
import { EvictionScheduler } from "../../proxy/eviction_scheduler.ts";
import { BackgroundWork } from "../../proxy/background_work.ts";

function schedulerOver(storage: MemoryStorage, maxBytes: number) {
  const work = new BackgroundWork();
  const passes: EvictionResult[] = [];
  const errors: Error[] = [];
  const scheduler = new EvictionScheduler(storage, {
    maxBytes,
    inflightBytes: () => 0,
    isPinned: () => false,
    lastUsed: () => undefined,
    track: (job) => work.track(job),
    onEvicted: (result) => passes.push(result),
    onError: (error) => errors.push(error),
  });
  return { scheduler, work, passes, errors };
}

test("EvictionScheduler brings the cache under 90 % of its limit", async () => {
  const storage = new MemoryStorage();
  for (let i = 0; i < 10; i++) await storage.write(`blobs/sha256/${i}`, new Uint8Array(100));
  const { scheduler, work, passes } = schedulerOver(storage, 500);
  scheduler.grew();
  await work.idle();
  assert.equal(passes.length, 1);
  assert.ok(passes[0]!.totalBytes - passes[0]!.deletedBytes <= 450);
});

test("EvictionScheduler folds growth during a pass into one more pass, not one each", async () => {
  const storage = new MemoryStorage();
  const { scheduler, work, passes } = schedulerOver(storage, 1_000);
  for (let i = 0; i < 20; i++) scheduler.grew();
  await work.idle();
  assert.equal(passes.length, 2, "the first pass, and one for all growth while it ran");
});

test("EvictionScheduler reports a failed pass and keeps working", async () => {
  const storage = new MemoryStorage();
  const broken = Object.assign(Object.create(storage), {
    // deno-lint-ignore require-yield
    async *list() {
      throw new Error("disk gone");
    },
  }) as MemoryStorage;
  const { scheduler, work, passes, errors } = schedulerOver(broken, 1_000);
  scheduler.grew();
  await work.idle();
  assert.deepEqual(errors.map((e) => e.message), ["disk gone"]);
  scheduler.grew();
  await work.idle();
  assert.equal(errors.length, 2, "a failure does not leave the scheduler stuck as running");
  assert.equal(passes.length, 0);
});
