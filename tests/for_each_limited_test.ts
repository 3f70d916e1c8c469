import assert from "node:assert/strict";
import { test } from "node:test";
import { forEachLimited } from "../lib/for_each_limited.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

test("forEachLimited() runs every item once, never more than the limit at a time", async () => {
  let running = 0;
  let peak = 0;
  const seen: Array<[number, number]> = [];
  await forEachLimited([10, 11, 12, 13, 14, 15, 16], 3, async (item, index) => {
    running++;
    peak = Math.max(peak, running);
    await tick();
    seen.push([item, index]);
    running--;
  });
  assert.equal(peak, 3);
  assert.deepEqual(seen.sort((a, b) => a[1] - b[1]), [[10, 0], [11, 1], [12, 2], [13, 3], [14, 4], [
    15,
    5,
  ], [16, 6]]);
});

test("forEachLimited() lets started work finish before rethrowing the first failure", async () => {
  let finished = 0;
  await assert.rejects(
    forEachLimited([1, 2, 3], 3, async (item) => {
      if (item === 1) throw new Error("item 1 failed");
      await tick();
      finished++;
    }),
    /item 1 failed/,
  );
  assert.equal(finished, 2, "the other workers were not abandoned mid-item");
});

test("forEachLimited() stops taking items once its signal is aborted", async () => {
  const controller = new AbortController();
  const done: number[] = [];
  await assert.rejects(
    forEachLimited([1, 2, 3, 4], 1, async (item) => {
      done.push(item);
      if (item === 2) controller.abort(new Error("stopped"));
      await tick();
    }, { signal: controller.signal }),
    /stopped/,
  );
  assert.deepEqual(done, [1, 2]);
});

test("forEachLimited() with no items or a zero limit still completes", async () => {
  await forEachLimited([], 4, () => Promise.reject(new Error("never called")));
  const done: number[] = [];
  await forEachLimited([1, 2], 0, (item) => Promise.resolve(void done.push(item)));
  assert.deepEqual(done, [1, 2]);
});
