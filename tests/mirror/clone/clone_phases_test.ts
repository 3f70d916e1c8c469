/**
 * cloneMirror() as one writer transaction: the target is verified once per run, and no other
 * writer can change it between the plan and the commit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { StorageError } from "../../../lib/errors.ts";
import type { ReadOptions, StoredObject } from "../../../lib/storage/storage.ts";
import { MemoryStorage } from "../../../lib/storage/memory_storage.ts";
import { renewComponent } from "../../../lib/writer/renew_component.ts";
import { cloneMirror } from "./_clone_with_test_keys.ts";
import { makeSourceMirror, type SourceMirror, T0 } from "../../_simulator.ts";

const TIMEOUT = { timeout: 120_000 };

/** A memory target that counts how often each path is read. */
class CountingStorage extends MemoryStorage {
  readonly reads = new Map<string, number>();
  override async read(path: string, options?: ReadOptions): Promise<StoredObject> {
    this.reads.set(path, (this.reads.get(path) ?? 0) + 1);
    return await super.read(path, options);
  }
}

describe("cloneMirror() phases", () => {
  let source: SourceMirror;
  before(async () => {
    source = await makeSourceMirror({ populate: true });
  }, TIMEOUT);
  after(async () => await source?.remove(), TIMEOUT);

  test("cloneMirror() verifies the target once per refresh", TIMEOUT, async () => {
    const target = new CountingStorage("mem://clone");
    await cloneMirror(source.storage, target, { versions: ["v1.2.0"], os: ["linux"], now: T0 });
    await source.publish("tidb", "v1.3.0", "linux/amd64");
    target.reads.clear();
    const report = await cloneMirror(source.storage, target, {
      versions: ["v1.3.0"],
      os: ["linux"],
      now: T0,
    });
    assert.equal(report.changed, true);
    // Every verification of the target starts from its timestamp.json (TUF order).
    assert.equal(target.reads.get("timestamp.json"), 1);
  });

  test(
    "cloneMirror() holds the writer's lock from plan to commit: another writer is refused meanwhile",
    TIMEOUT,
    async () => {
      const target = new MemoryStorage("mem://clone");
      await cloneMirror(source.storage, target, { versions: ["v1.2.0"], os: ["linux"], now: T0 });
      await source.publish("tidb", "v1.4.0", "linux/amd64");
      const refused: unknown[] = [];
      let tried: Promise<unknown> | undefined;
      await cloneMirror(source.storage, target, {
        versions: ["v1.4.0"],
        os: ["linux"],
        now: T0,
        onProgress: () => {
          tried ??= renewComponent(target, {}, { now: T0, lock: { waitMs: 0 } }).then(
            () => refused.push("renew succeeded"),
            (error) => refused.push(error),
          );
        },
      });
      await tried;
      assert.equal(refused.length, 1);
      assert.ok(refused[0] instanceof StorageError, String(refused[0]));
    },
  );
});
