import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, before, describe, test } from "node:test";
import { UsageError } from "../../../lib/errors.ts";
import { takeTestKeys } from "../../_keys.ts";
import type { SigningKey } from "../../../lib/format/key_info.ts";
import { loadComponentManifest } from "../../../lib/trust/load_component_manifest.ts";
import { mergeMirror } from "../../../lib/mirror/merge/merge_mirror.ts";
import { loadRepositoryState } from "../../../lib/trust/load_verified_state.ts";
import { makeSourceMirror, type SourceMirror, T0 } from "../../_simulator.ts";

const TIMEOUT = { timeout: 120_000 };

describe("mergeMirror()", () => {
  let base: SourceMirror;
  let baseOwner: SigningKey;
  let source: SourceMirror;
  before(async () => {
    baseOwner = takeTestKeys(1)[0]!;
    base = await makeSourceMirror({ owner: baseOwner });
    await base.publish("tidb", "v1.0.0", "linux/amd64");
    source = await makeSourceMirror({ owner: takeTestKeys(1)[0]! });
    await source.publish("tidb", "v1.1.0", "linux/amd64");
    await source.publish("hello", "v0.0.1", "linux/amd64");
    await source.publish("hello", "v0.0.1", "darwin/arm64");
  }, TIMEOUT);
  after(async () => {
    await base?.remove();
    await source?.remove();
  }, TIMEOUT);

  test(
    "mergeMirror() refuses before fetching anything when no owner key is at hand",
    TIMEOUT,
    async () => {
      await assert.rejects(
        mergeMirror(base.storage, source.storage, { keys: new Map(), now: T0 }),
        (error: Error) => error instanceof UsageError && /--key-dir/.test(error.message),
      );
      await assert.rejects(fs.stat(nodePath.join(base.dir, ".ferry-staging")));
    },
  );

  test(
    "mergeMirror() publishes every missing build with the base owner's key",
    TIMEOUT,
    async () => {
      const report = await mergeMirror(base.storage, source.storage, {
        keys: new Map([[baseOwner.id, baseOwner]]),
        now: T0,
      });
      assert.deepEqual(report.added.map((a) => `${a.component} ${a.version} ${a.platform}`), [
        "hello v0.0.1 darwin/arm64",
        "hello v0.0.1 linux/amd64",
        "tidb v1.1.0 linux/amd64",
      ]);
      const state = await loadRepositoryState(base.storage, { now: T0 });
      assert.equal(state.index.manifest.signed.components.hello!.owner, "alice");
      const tidb = await loadComponentManifest(base.storage, state, "tidb");
      assert.deepEqual(Object.keys(tidb!.manifest.signed.platforms["linux/amd64"]!).sort(), [
        "v1.0.0",
        "v1.1.0",
      ]);
      assert.deepEqual(await fs.readdir(nodePath.join(base.dir, ".ferry-staging", "merge")), []);
      const again = await mergeMirror(base.storage, source.storage, {
        keys: new Map([[baseOwner.id, baseOwner]]),
        now: T0,
      });
      assert.deepEqual(again.added, []);
      assert.equal(again.alreadyPresent, 3);
    },
  );
});
