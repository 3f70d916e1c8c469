import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { ProgressEvent } from "../../lib/progress_events.ts";
import { verifyMirror } from "../../lib/mirror/verify_mirror.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { fixture, FIXTURE_NOW } from "../_fixtures.ts";
import { assignKeys, MirrorSimulator, type SimulatorKeys, T0 } from "../_simulator.ts";
import { takeTestKeys } from "../_keys.ts";

describe("verifyMirror()", () => {
  let keys: SimulatorKeys;
  before(() => {
    keys = assignKeys(takeTestKeys(6));
  });

  async function mirror() {
    const sim = await MirrorSimulator.create(keys, { now: T0 });
    for (const name of ["tidb", "pd", "tikv"]) {
      await sim.publish(name, "v1.0.0", { commit: false });
      await sim.publish(name, "v1.1.0", { platform: "linux/arm64", commit: false });
    }
    await sim.commit();
    return sim;
  }

  it("finds nothing wrong with a clean mirror and counts what it checked", async () => {
    const sim = await mirror();
    const events: ProgressEvent[] = [];
    const report = await verifyMirror(sim.storage, { now: T0, onProgress: (e) => events.push(e) });
    assert.deepEqual(report.problems, []);
    assert.equal(report.ok, true);
    assert.deepEqual(report.counts, {
      manifests: 7,
      components: 3,
      tarballs: 6,
      bytes: [...sim.tarballs.values()].reduce((sum, b) => sum + b.length, 0),
    });
    assert.deepEqual(report.versions, {
      root: 1,
      timestamp: sim.timestamp.version,
      index: sim.index.version,
    });
    assert.equal(events.at(-1)?.filesDone, 6);
  });

  it("lists every problem with its file instead of stopping at the first", async () => {
    const sim = await mirror();
    const tidb = "tidb-v1.0.0-linux-amd64.tar.gz";
    await sim.storage.write(tidb, (await sim.file(tidb)).map((b) => b ^ 1));
    await sim.storage.delete("pd-v1.1.0-linux-arm64.tar.gz");
    const tikv = "tikv-v1.0.0-linux-amd64.tar.gz";
    await sim.storage.write(tikv, new Uint8Array([...(await sim.file(tikv)), 1, 2, 3]));
    sim.components.get("tidb")!.version++;
    await sim.writeComponent("tidb", [keys.index]);
    sim.snapshot.expires = sim.expiry(-1);
    await sim.commit();
    const report = await verifyMirror(sim.storage, { now: T0 });
    const found = report.problems.map((p) => `${p.file} ${p.kind}`).sort();
    assert.deepEqual(found, [
      "3.tidb.json signature",
      "pd-v1.1.0-linux-arm64.tar.gz missing",
      "snapshot.json expired",
      "tikv-v1.0.0-linux-amd64.tar.gz length",
    ]);
    assert.equal(report.ok, false);
  });

  it("checks tarball hashes of components whose manifest verified", async () => {
    const sim = await mirror();
    const tidb = "tidb-v1.1.0-linux-arm64.tar.gz";
    await sim.storage.write(tidb, (await sim.file(tidb)).map((b) => b ^ 1));
    const report = await verifyMirror(sim.storage, { now: T0 });
    assert.deepEqual(report.problems.map((p) => [p.file, p.kind]), [[tidb, "hash"]]);
  });

  it("skips yanked versions, whose tarballs a clone does not copy", async () => {
    const sim = await mirror();
    sim.components.get("pd")!.platforms["linux/amd64"]!["v1.0.0"]!.yanked = true;
    sim.components.get("pd")!.version++;
    await sim.writeComponent("pd");
    await sim.commit();
    await sim.storage.delete("pd-v1.0.0-linux-amd64.tar.gz");
    const report = await verifyMirror(sim.storage, { now: T0 });
    assert.deepEqual(report.problems, []);
    assert.equal(report.counts.tarballs, 5);
  });

  it("reports a missing root.json and falls back to 1.root.json", async () => {
    const sim = await mirror();
    await sim.storage.write("1.root.json", await sim.file("root.json"));
    await sim.storage.delete("root.json");
    const report = await verifyMirror(sim.storage, { now: T0 });
    assert.deepEqual(report.problems.map((p) => [p.file, p.kind]), [["root.json", "missing"]]);
    assert.equal(report.counts.tarballs, 6);
  });

  it("uses the given root, so a re-keyed mirror fails against the old one (TiUP #2018)", async () => {
    const sim = await mirror();
    const other = await MirrorSimulator.create(assignKeys(takeTestKeys(6)), { now: T0 });
    const report = await verifyMirror(sim.storage, {
      now: T0,
      root: await other.file("root.json"),
    });
    assert.deepEqual(report.problems.map((p) => [p.file, p.kind]), [[
      "timestamp.json",
      "signature",
    ]]);
  });

  it("reports the cloned fixture's owner threshold rule and its legacy fields", async () => {
    const storage = new MemoryStorage();
    for (
      const name of [
        "1.root.json",
        "1.index.json",
        "snapshot.json",
        "timestamp.json",
        "1.tidb.json",
      ]
    ) {
      await storage.write(name, fixture(`cloned-mirror/${name}`));
    }
    await storage.write("root.json", fixture("cloned-mirror/1.root.json"));
    const report = await verifyMirror(storage, { now: FIXTURE_NOW });
    assert.deepEqual(report.problems.map((p) => p.file), ["1.index.json"]);
    assert.match(report.problems[0]!.message, /signed\.owners\.pingcap\.threshold is missing/);
    assert.equal(report.versions.timestamp, 1);
  });
});
