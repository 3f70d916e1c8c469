import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, before, describe, it } from "node:test";
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
});
