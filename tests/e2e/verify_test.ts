import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, before, describe, it } from "node:test";
import { MAX_ROOT_BYTES } from "../../lib/format/repo_defaults.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { takeTestKeys } from "../_keys.ts";
import { assignKeys, MirrorSimulator } from "../_simulator.ts";
import { runFerry } from "./_cli.ts";

describe("ferry mirror verify", () => {
  let dir: string;
  let sim: MirrorSimulator;
  before(async () => {
    dir = await mkdtemp(nodePath.join(tmpdir(), "ferry-verify-e2e-"));
    sim = await MirrorSimulator.create(assignKeys(takeTestKeys(6)), { now: new Date() });
    await sim.publish("tidb", "v1.0.0");
    await sim.copyTo(new LocalStorage(dir));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 0 and prints a summary for a clean mirror", async () => {
    const result = await runFerry(["mirror", "verify", dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Checked 5 manifests \(1 components\) and 1 tarballs/);
    assert.match(result.stdout, /OK: no problems found/);
  });

  it("exits 3 and lists the problem as JSON when a tarball is corrupt", async () => {
    const storage = new LocalStorage(dir);
    await storage.write("tidb-v1.0.0-linux-amd64.tar.gz", "corrupt");
    const result = await runFerry(["mirror", "verify", dir, "--json"]);
    assert.equal(result.code, 3, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.ok, false);
    assert.deepEqual(report.problems.map((p: { file: string; kind: string }) => [p.file, p.kind]), [
      ["tidb-v1.0.0-linux-amd64.tar.gz", "length"],
    ]);
    assert.equal(report.counts.tarballs, 1);
  });

  it("exits 2 with a clear message for a bad --now", async () => {
    const result = await runFerry(["mirror", "verify", dir, "--now", "tomorrow"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Cannot use --now "tomorrow"/);
  });

  it("ferry image verify refuses a bad --now, a missing --root and an oversized one (exit 2)", async () => {
    const badNow = await runFerry(["image", "verify", dir, "--now", "tomorrow"]);
    assert.equal(badNow.code, 2);
    assert.match(badNow.stderr, /Cannot use --now "tomorrow"/);
    const missing = nodePath.join(dir, "no-such-root.json");
    const noRoot = await runFerry(["image", "verify", dir, "--root", missing]);
    assert.equal(noRoot.code, 2);
    assert.match(noRoot.stderr, /Cannot read --root .*ENOENT/);
    const elsewhere = await mkdtemp(nodePath.join(tmpdir(), "ferry-verify-root-"));
    const big = nodePath.join(elsewhere, "root.json");
    await writeFile(big, new Uint8Array(MAX_ROOT_BYTES + 1));
    try {
      for (const verb of ["mirror", "image"]) {
        const tooLarge = await runFerry([verb, "verify", dir, "--root", big]);
        assert.equal(tooLarge.code, 2, verb);
        assert.match(tooLarge.stderr, /Cannot use --root .*is larger than/, verb);
      }
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});
