import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, before, describe, test } from "node:test";
import { UsageError } from "../../../lib/errors.ts";
import { cloneIntoDirectory } from "./_clone_with_test_keys.ts";
import { makeSourceMirror, type SourceMirror, T0 } from "../../_simulator.ts";

const TIMEOUT = { timeout: 120_000 };

describe("cloneIntoDirectory()", () => {
  let source: SourceMirror;
  let base: string;
  before(async () => {
    source = await makeSourceMirror();
    await source.publish("pd", "v1.0.0", "linux/amd64");
    base = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-into-"));
  }, TIMEOUT);
  after(async () => {
    await source?.remove();
    await fs.rm(base, { recursive: true, force: true });
  }, TIMEOUT);

  const options = { components: { pd: ["all"] }, now: T0 };

  test(
    "cloneIntoDirectory() builds a new target beside it and renames it into place",
    TIMEOUT,
    async () => {
      const target = nodePath.join(base, "new");
      const report = await cloneIntoDirectory(source.storage, target, options);
      assert.equal(report.created, true);
      assert.equal(report.target, target);
      await fs.stat(nodePath.join(target, "timestamp.json"));
      assert.deepEqual((await fs.readdir(base)).filter((n) => n.includes("partial")), []);
    },
  );

  test(
    "cloneIntoDirectory() resumes in the hidden sibling an interrupted first clone left",
    TIMEOUT,
    async () => {
      const target = nodePath.join(base, "resumed");
      const partial = nodePath.join(base, ".resumed.ferry-partial");
      // What a run killed after its download leaves: the verified tarball, no manifests yet.
      await fs.mkdir(partial);
      await fs.copyFile(
        nodePath.join(source.dir, "pd-v1.0.0-linux-amd64.tar.gz"),
        nodePath.join(partial, "pd-v1.0.0-linux-amd64.tar.gz"),
      );
      const report = await cloneIntoDirectory(source.storage, target, options);
      assert.deepEqual(report.downloaded, []);
      assert.deepEqual(report.skipped, ["pd-v1.0.0-linux-amd64.tar.gz"]);
      await fs.stat(nodePath.join(target, "timestamp.json"));
      await assert.rejects(fs.stat(partial));
    },
  );

  test(
    "cloneIntoDirectory() leaves no partial directory (with fresh private keys) after a usage error",
    TIMEOUT,
    async () => {
      const target = nodePath.join(base, "typo");
      await assert.rejects(
        cloneIntoDirectory(source.storage, target, { components: { pd: ["v9.9.9"] }, now: T0 }),
        UsageError,
      );
      assert.deepEqual((await fs.readdir(base)).filter((n) => n.includes("typo")), []);
    },
  );

  test(
    "cloneIntoDirectory() keeps a partial directory an earlier run left, even after a usage error",
    TIMEOUT,
    async () => {
      const target = nodePath.join(base, "earlier");
      const partial = nodePath.join(base, ".earlier.ferry-partial");
      await fs.mkdir(partial);
      await fs.copyFile(
        nodePath.join(source.dir, "pd-v1.0.0-linux-amd64.tar.gz"),
        nodePath.join(partial, "pd-v1.0.0-linux-amd64.tar.gz"),
      );
      await assert.rejects(
        cloneIntoDirectory(source.storage, target, { components: { pd: ["v9.9.9"] }, now: T0 }),
        UsageError,
      );
      await fs.stat(nodePath.join(partial, "pd-v1.0.0-linux-amd64.tar.gz"));
    },
  );

  test("cloneIntoDirectory() fills an existing empty directory", TIMEOUT, async () => {
    const target = nodePath.join(base, "empty");
    await fs.mkdir(target);
    const report = await cloneIntoDirectory(source.storage, target, options);
    assert.equal(report.created, true);
    await fs.stat(nodePath.join(target, "root.json"));
  });

  test(
    "cloneIntoDirectory() refuses a non-empty directory that holds no mirror",
    TIMEOUT,
    async () => {
      const target = nodePath.join(base, "occupied");
      await fs.mkdir(target);
      await fs.writeFile(nodePath.join(target, "notes.txt"), "mine");
      await assert.rejects(
        cloneIntoDirectory(source.storage, target, options),
        (error: Error) => error instanceof UsageError && /--overwrite/.test(error.message),
      );
      assert.deepEqual(await fs.readdir(target), ["notes.txt"]);
    },
  );

  test(
    "cloneIntoDirectory() refuses to clone a mirror into itself (TiUP PR #1464)",
    TIMEOUT,
    async () => {
      await assert.rejects(
        cloneIntoDirectory(source.storage, source.dir, options),
        (error: Error) => error instanceof UsageError && /into itself/.test(error.message),
      );
    },
  );
});
