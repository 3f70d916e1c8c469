import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { afterEach, before, beforeEach, describe, it } from "node:test";
import { openClientUpdater } from "../../lib/client/open_client_updater.ts";
import { ExpiredError, RollbackError, SignatureError, UsageError } from "../../lib/errors.ts";
import type { SimulatorKeys } from "../_simulator.ts";
import {
  clientKeys,
  helloMirror,
  NOW,
  now,
  tempHome,
  tree,
  trustMirror,
} from "./_client_mirror.ts";

const days = (n: number) => () => new Date(NOW.getTime() + n * 86_400_000);

describe("openClientUpdater()", () => {
  let keys: SimulatorKeys;
  let home: string;
  before(async () => (keys = await clientKeys()));
  beforeEach(async () => (home = await tempHome()));
  afterEach(async () => await fs.rm(home, { recursive: true, force: true }));

  it("says to run 'ferry mirror set' when no root is trusted yet (TiUP #893)", async () => {
    const sim = await helloMirror(keys);
    await assert.rejects(
      openClientUpdater(home, sim.storage, { now }),
      (error: Error) =>
        error instanceof UsageError && /ferry mirror set <mirror>/.test(error.message),
    );
  });

  it("verifies the mirror from bin/root.json and caches the manifests in manifests/", async () => {
    const sim = await helloMirror(keys);
    await trustMirror(home, sim);
    const updater = await openClientUpdater(home, sim.storage, { now });
    const { index } = await updater.refresh();
    assert.ok(Object.hasOwn(index.signed.components, "hello"));
    assert.deepEqual(await tree(nodePath.join(home, "manifests")), [
      "index.json",
      "snapshot.json",
      "timestamp.json",
    ]);
  });

  it("rejects a mirror rolled back to an older timestamp after an earlier run saw a newer one", async () => {
    const sim = await helloMirror(keys);
    await trustMirror(home, sim);
    const oldTimestamp = await sim.file("timestamp.json");
    const oldSnapshot = await sim.file("snapshot.json");
    await sim.publish("hello", "v1.2.0");
    await (await openClientUpdater(home, sim.storage, { now })).refresh();
    await sim.storage.write("timestamp.json", oldTimestamp);
    await sim.storage.write("snapshot.json", oldSnapshot);
    await assert.rejects(
      (await openClientUpdater(home, sim.storage, { now })).refresh(),
      RollbackError,
    );
  });

  it("rejects a tampered timestamp with a signature error", async () => {
    const sim = await helloMirror(keys);
    await trustMirror(home, sim);
    const bytes = await sim.file("timestamp.json");
    const text = new TextDecoder().decode(bytes).replace(/"version":(\d+)/, '"version":99');
    await sim.storage.write("timestamp.json", text);
    await assert.rejects(
      (await openClientUpdater(home, sim.storage, { now })).refresh(),
      SignatureError,
    );
  });

  it("names the expired timestamp when only the timestamp expired", async () => {
    const sim = await helloMirror(keys);
    await trustMirror(home, sim);
    await assert.rejects(
      (await openClientUpdater(home, sim.storage, { now: days(40) })).refresh(),
      (error: Error) =>
        error instanceof ExpiredError && /"timestamp\.json" expired/.test(error.message),
    );
  });

  it("names the expired root, not the timestamp, when the root expired (TiUP #1436, #2722)", async () => {
    const sim = await helloMirror(keys);
    await trustMirror(home, sim);
    await assert.rejects(
      (await openClientUpdater(home, sim.storage, { now: days(400) })).refresh(),
      (error: Error) =>
        error instanceof ExpiredError && /root v1\) expired/.test(error.message) &&
        /2\.root\.json/.test(error.message),
    );
  });

  it("follows a root rotation and keeps the new root in manifests/root.json", async () => {
    const sim = await helloMirror(keys);
    await trustMirror(home, sim);
    await sim.rotateRoot([keys.index, keys.snapshot]);
    await sim.commit();
    const updater = await openClientUpdater(home, sim.storage, { now });
    assert.equal((await updater.refresh()).rootVersion, 2);
    const next = await openClientUpdater(home, sim.storage, { now });
    assert.equal((await next.refresh()).rootVersion, 2);
    assert.ok((await tree(nodePath.join(home, "manifests"))).includes("root.json"));
  });
});
