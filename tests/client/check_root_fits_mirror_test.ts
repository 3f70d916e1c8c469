import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { checkRootFitsMirror } from "../../lib/client/check_root_fits_mirror.ts";
import { SignatureError, StorageError } from "../../lib/errors.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { MirrorSimulator, type SimulatorKeys } from "../_simulator.ts";
import { clientKeys, NOW, now } from "./_client_mirror.ts";

describe("checkRootFitsMirror()", () => {
  let keys: SimulatorKeys;
  before(async () => (keys = await clientKeys()));
  const DAY = 86_400_000;

  it("accepts the mirror's own root and reports the root version reached", async () => {
    const sim = await MirrorSimulator.create(keys, { now: NOW });
    const fit = await checkRootFitsMirror(sim.storage, await sim.file("root.json"), { now });
    assert.deepEqual(fit, { rootVersion: 1 });
  });

  it("walks an old root forward through a rotation, without an expiry warning", async () => {
    const sim = await MirrorSimulator.create(keys, { now: NOW });
    const old = await sim.file("root.json");
    // 400 days later: root v1 has expired, but v2 (rotated 10 days before) has not.
    sim.now = new Date(NOW.getTime() + 390 * DAY);
    sim.root = { ...sim.root, expires: sim.expiry(365) };
    await sim.rotateRoot([keys.index, keys.snapshot]);
    sim.index = { ...sim.index, expires: sim.expiry(365), version: sim.index.version + 1 };
    await sim.writeIndex();
    sim.timestamp.expires = sim.expiry(30);
    sim.snapshot.expires = sim.expiry(30);
    await sim.commit();
    const later = () => new Date(NOW.getTime() + 400 * DAY);
    const fit = await checkRootFitsMirror(sim.storage, old, { now: later });
    assert.equal(fit.rootVersion, 2);
    assert.equal(fit.expired, undefined);
  });

  it("refuses a mirror without timestamp.json as not a usable mirror", async () => {
    const sim = await MirrorSimulator.create(keys, { now: NOW });
    const storage = new MemoryStorage();
    await storage.write("root.json", await sim.file("root.json"));
    await assert.rejects(
      checkRootFitsMirror(storage, await sim.file("root.json"), { now, address: "/m" }),
      (error: Error) =>
        error instanceof StorageError && /"\/m": it has no "timestamp\.json"/.test(error.message),
    );
  });

  it("says a root of another mirror does not belong, with the caller's hint", async () => {
    const sim = await MirrorSimulator.create(keys, { now: NOW });
    const other = await MirrorSimulator.create(
      { ...keys, root: [keys.index, keys.snapshot], timestamp: keys.owners.pingcap! },
      { now: NOW },
    );
    await assert.rejects(
      checkRootFitsMirror(sim.storage, await other.file("root.json"), {
        now,
        address: "/m",
        rootFrom: "x.json",
        wrongRootHint: "do this",
      }),
      (error: Error) =>
        error instanceof SignatureError &&
        /^The root\.json given \(x\.json\) does not belong to the mirror "\/m".*; do this$/
          .test(error.message),
    );
  });
});
