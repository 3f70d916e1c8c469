import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { grantOwner } from "../../lib/writer/grant_owner.ts";
import { initRepository } from "../../lib/writer/init_repository.ts";
import { publishComponent } from "../../lib/writer/publish_component.ts";
import { renewComponent } from "../../lib/writer/renew_component.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import {
  clientRefresh,
  day,
  helloPackage,
  makeMirror,
  readJson,
  T0,
  testKeys,
  treeDigest,
} from "../_simulator.ts";

describe("renewComponent()", () => {
  it("renews an already-expired repository so clients accept it again (TiUP #1871)", async () => {
    const { storage } = await makeMirror();
    await assert.rejects(clientRefresh(storage, day(45)), /expired/);
    const result = await renewComponent(storage, {}, { now: day(45) });
    assert.deepEqual(result.files, ["snapshot.json", "timestamp.json"]);
    await clientRefresh(storage, day(46));
  });

  it("chooses snapshot and timestamp lifetimes (TiUP #2399)", async () => {
    const { storage } = await makeMirror();
    await renewComponent(storage, { snapshotDays: 400, timestampDays: 200 }, { now: day(1) });
    assert.equal((await readJson(storage, "snapshot.json")).signed.expires, "2027-02-06T00:00:00Z");
    assert.equal(
      (await readJson(storage, "timestamp.json")).signed.expires,
      "2026-07-21T00:00:00Z",
    );
    await clientRefresh(storage, day(150));
  });

  it("renews the index with indexDays as a new index version", async () => {
    const { storage } = await makeMirror();
    const result = await renewComponent(storage, {
      indexDays: 1000,
      snapshotDays: 900,
      timestampDays: 900,
    }, {
      now: day(1),
    });
    assert.ok(result.files.includes("3.index.json"));
    assert.equal((await readJson(storage, "3.index.json")).signed.expires, "2028-09-28T00:00:00Z");
  });

  it("renews an expired component as a new version with --days", async () => {
    const { storage, keys } = await makeMirror();
    await publishComponent(storage, helloPackage(), {
      key: keys.alice,
      now: day(1),
      componentDays: 10,
    });
    assert.equal((await readJson(storage, "1.hello.json")).signed.expires, "2026-01-12T00:00:00Z");
    await renewComponent(storage, { component: "hello", days: 100 }, {
      key: keys.alice,
      now: day(20),
    });
    const renewed = (await readJson(storage, "2.hello.json")).signed;
    assert.equal(renewed.version, 2);
    assert.equal(renewed.expires, "2026-05-01T00:00:00Z"); // day 20 + 100 d
    const { updater } = await clientRefresh(storage, day(21));
    await updater.component("hello");
  });

  it("re-signs an expired index in any transaction, so the mirror is usable again", async () => {
    const keys = await testKeys();
    const storage = new MemoryStorage("mem://short-index");
    await initRepository(storage, {
      now: T0,
      keys: {
        root: [keys.root],
        index: [keys.role],
        snapshot: [keys.role],
        timestamp: [keys.role],
      },
      expiryDays: { root: 1000 },
    });
    await grantOwner(storage, { id: "alice", key: keys.alice.publicInfo }, { now: T0 });
    await assert.rejects(clientRefresh(storage, day(370)), /expired/); // index: T0 + 365 d
    // A renew that names no index days still re-signs the expired index.
    const result = await renewComponent(storage, {}, { now: day(370) });
    assert.deepEqual(result.files, ["3.index.json", "snapshot.json", "timestamp.json"]);
    const { result: refreshed } = await clientRefresh(storage, day(371));
    assert.equal(refreshed.index.signed.expires, "2028-01-06T00:00:00Z"); // day 370 + 365 d
  });

  it("never shortens an expiry", async () => {
    const { storage } = await makeMirror();
    await renewComponent(storage, { snapshotDays: 300 }, { now: day(1) });
    await renewComponent(storage, { snapshotDays: 2 }, { now: day(2) });
    assert.equal((await readJson(storage, "snapshot.json")).signed.expires, "2026-10-29T00:00:00Z");
  });

  const refusals: Array<[string, Parameters<typeof renewComponent>[1], RegExp]> = [
    ["a component without its owner's key", { component: "hello" }, /owner's key is required/],
    ["an unknown component", { component: "nope" }, /no such component/],
    ["a negative day count", { snapshotDays: -1 }, /whole number of days/],
    ["a fractional day count", { days: 1.5 }, /whole number of days/],
  ];
  for (const [what, request, message] of refusals) {
    it(`refuses ${what} and leaves the mirror as it was`, async () => {
      const { storage, keys } = await makeMirror();
      await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
      const before = await treeDigest(storage);
      await assert.rejects(
        renewComponent(storage, request, { now: day(2) }),
        (error: Error) => error instanceof UsageError && message.test(error.message),
      );
      assert.deepEqual(await treeDigest(storage), before);
    });
  }
});
