import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { StorageError } from "../../../lib/errors.ts";
import { loadRepositoryState } from "../../../lib/trust/load_verified_state.ts";
import { listedTarballs } from "../../../lib/server/pull_through/listed_tarballs.ts";
import { startMetadataRefresh } from "../../../lib/server/pull_through/refresh_metadata.ts";
import { MemoryStorage } from "../../../lib/storage/memory_storage.ts";
import { readBytes } from "../../../lib/storage/read_bytes.ts";
import type { StorageReader } from "../../../lib/storage/storage.ts";
import { cloneMirror } from "../../mirror/clone/_clone_with_test_keys.ts";
import { makeSourceMirror, type SourceMirror, T0, treeDigest } from "../../_simulator.ts";

const TIMEOUT = { timeout: 120_000 };
const HOUR = 3_600_000;

/** An upstream that is gone: every read fails as a refused connection would. */
const gone: StorageReader = {
  location: "http://gone.test",
  stat: () => Promise.reject(new StorageError("connection refused")),
  read: () => Promise.reject(new StorageError("connection refused")),
};

describe("clone --no-tarballs and startMetadataRefresh()", () => {
  let source: SourceMirror;
  before(async () => {
    source = await makeSourceMirror({ populate: true });
  }, TIMEOUT);
  after(async () => await source?.remove(), TIMEOUT);

  test("a --no-tarballs clone lists the selection and holds no tarball", TIMEOUT, async () => {
    const target = new MemoryStorage("mem://clone");
    const report = await cloneMirror(source.storage, target, {
      noTarballs: true,
      components: { pd: ["all"] },
      os: ["linux"],
      arch: ["amd64"],
      now: T0,
    });
    assert.deepEqual(report.downloaded, []);
    for await (const file of target.list("")) assert.ok(!file.path.endsWith(".tar.gz"), file.path);
    const listed = [...(await listedTarballs(target, { now: T0 })).keys()].sort();
    assert.ok(listed.includes("pd-v1.1.0-linux-amd64.tar.gz"), listed.join());
    assert.ok(listed.includes("pd-v1.2.0-linux-amd64.tar.gz"), listed.join());
  });

  test("refreshes from the upstream with the clone's own keys", TIMEOUT, async () => {
    const target = new MemoryStorage("mem://clone");
    await cloneMirror(source.storage, target, {
      noTarballs: true,
      components: { pd: ["all"] },
      os: ["linux"],
      arch: ["amd64"],
      now: T0,
    });
    const root = await readBytes(target, "root.json");
    const reports: unknown[] = [];
    const errors: unknown[] = [];
    const refresh = startMetadataRefresh(source.storage, target, {
      intervalMs: HOUR,
      now: () => T0,
      cache: new MemoryStorage("mem://cache"),
      onRefreshed: (report) => reports.push(report),
      onError: (error) => errors.push(error),
    });
    try {
      await refresh.refreshNow();
    } finally {
      await refresh.stop();
    }
    assert.deepEqual(errors, []);
    assert.equal(reports.length, 1);
    assert.deepEqual(await readBytes(target, "root.json"), root);
    const state = await loadRepositoryState(target, { now: T0 });
    assert.ok(Object.hasOwn(state.index.manifest.signed.components, "pd"));
  });

  test("leaves the clone unchanged and reports it when the upstream is gone", TIMEOUT, async () => {
    const target = new MemoryStorage("mem://clone");
    await cloneMirror(source.storage, target, {
      noTarballs: true,
      components: { pd: ["all"] },
      os: ["linux"],
      arch: ["amd64"],
      now: T0,
    });
    const before = await treeDigest(target);
    const errors: unknown[] = [];
    const refresh = startMetadataRefresh(gone, target, {
      intervalMs: HOUR,
      now: () => T0,
      cache: new MemoryStorage("mem://cache"),
      onError: (error) => errors.push(error),
    });
    try {
      await refresh.refreshNow();
    } finally {
      await refresh.stop();
    }
    assert.equal(errors.length, 1);
    assert.deepEqual(await treeDigest(target), before);
  });
});
