import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { before, describe, it } from "node:test";
import {
  ExpiredError,
  HashMismatchError,
  LengthMismatchError,
  ManifestFormatError,
  RollbackError,
  SignatureError,
  TooLargeError,
  VerificationError,
} from "../../lib/errors.ts";
import { decodeManifest } from "../../lib/format/decode_manifest.ts";
import type { PublicKeyInfo } from "../../lib/format/key_info.ts";
import type { VersionItem } from "../../lib/format/manifest_types.ts";
import { formatRfc3339 } from "../../lib/format/rfc3339.ts";
import { TrustedMetadataSet } from "../../lib/trust/trusted_set.ts";
import { verifyManifest } from "../../lib/trust/verify_manifest.ts";
import { fixture, FIXTURE_NOW, fixtureJson, FIXTURES } from "../_fixtures.ts";
import { assignKeys, MirrorSimulator, signFile, type SimulatorKeys, T0 } from "../_simulator.ts";
import { takeTestKeys } from "../_keys.ts";

const now = () => FIXTURE_NOW;
const A = "polluted-profile-a";

describe("TrustedMetadataSet with the TiUP fixtures", () => {
  it("trusts each official root as an anchor (self-signed, threshold 3)", () => {
    for (const version of [1, 4, 6]) {
      const set = new TrustedMetadataSet(fixture(`official-root/${version}.root.json`), { now });
      assert.equal(set.root.signed.version, version);
    }
  });

  it("replays the official chain root v6 → timestamp → snapshot → index v420 → tidb v62", () => {
    const set = new TrustedMetadataSet(fixture(`${A}/bin/root.json`), { now });
    assert.equal(
      set.updateTimestamp(fixture("mock-mirror/timestamp.valid-2120.json")).signed.version,
      99999,
    );
    set.updateSnapshot(fixture(`${A}/manifests/snapshot.json`));
    assert.equal(set.updateIndex(fixture("mock-mirror/420.index.json")).signed.version, 420);
    const tidb = set.updateComponent("tidb", fixture(`${A}/manifests/tidb.json`));
    assert.equal(tidb.signed.version, 62);
    assert.equal(set.component("tidb"), tidb);
  });

  it("rejects mix-and-match: profile b's snapshot under the timestamp that pins profile a's", () => {
    const set = new TrustedMetadataSet(fixture(`${A}/bin/root.json`), { now });
    set.updateTimestamp(fixture("mock-mirror/timestamp.valid-2120.json"));
    assert.throws(
      () => set.updateSnapshot(fixture("polluted-profile-b/manifests/snapshot.json")),
      HashMismatchError,
    );
  });

  it("rejects the expired-2000 timestamps as expired, not as badly signed", () => {
    for (
      const path of [
        "mock-mirror/timestamp.expired-2000.json",
        `${A}/manifests/timestamp.json`,
        "polluted-profile-b/manifests/timestamp.json",
      ]
    ) {
      const set = new TrustedMetadataSet(fixture(`${A}/bin/root.json`), { now });
      assert.throws(
        () => set.updateTimestamp(fixture(path)),
        (error) =>
          error instanceof ExpiredError &&
          error.message.startsWith('"timestamp.json" expired on 2000'),
      );
    }
  });

  it("rejects the tampered indexes with a SignatureError", () => {
    const root = new TrustedMetadataSet(fixture(`${A}/bin/root.json`), { now }).root;
    for (const profile of [A, "polluted-profile-b"]) {
      const index = decodeManifest(
        fixture(`${profile}/manifests/index.json`),
        "index",
        "index.json",
      );
      assert.throws(
        () =>
          verifyManifest(index, {
            file: "index.json",
            trusted: root.signed.roles.index,
            now: FIXTURE_NOW,
          }),
        SignatureError,
      );
    }
  });

  it("rejects a root that skips versions: 4.root.json is not signed by 3 of root v1's keys", () => {
    const set = new TrustedMetadataSet(fixture("official-root/1.root.json"), { now });
    assert.throws(() => set.updateRoot(fixture("official-root/4.root.json")), SignatureError);
  });

  it("rejects the official chain with the real clock because root v6 expired (TiUP #2722)", () => {
    const set = new TrustedMetadataSet(fixture(`${A}/bin/root.json`), {
      now: () => new Date("2026-11-22T00:00:00Z"),
    });
    assert.throws(() => set.checkRootFresh(), ExpiredError);
    assert.throws(
      () => set.updateTimestamp(fixture("mock-mirror/timestamp.valid-2120.json")),
      (error) =>
        error instanceof ExpiredError &&
        error.message.startsWith(
          'Cannot trust "timestamp.json": the root that lists its keys expired on 2026-07-26',
        ),
    );
  });

  it("verifies the cloned mirror up to its index, which fails on the owner threshold rule", () => {
    const set = new TrustedMetadataSet(fixture("cloned-mirror/1.root.json"), {
      now,
      rootFile: "1.root.json",
    });
    set.updateTimestamp(fixture("cloned-mirror/timestamp.json"));
    set.updateSnapshot(fixture("cloned-mirror/snapshot.json"));
    assert.throws(
      () => set.updateIndex(fixture("cloned-mirror/1.index.json")),
      (error) =>
        error instanceof ManifestFormatError &&
        error.message.includes("signed.owners.pingcap.threshold is missing"),
    );
  });

  it("verifies all 22 cloned component signatures with the owner key of 1.index.json", () => {
    const index = fixtureJson("cloned-mirror/1.index.json") as {
      signed: {
        components: Record<string, unknown>;
        owners: { pingcap: { keys: Record<string, PublicKeyInfo> } };
      };
    };
    const owner = { keys: index.signed.owners.pingcap.keys, threshold: 1 };
    // The fixture README says 20, but the folder holds a manifest for all 22 index components.
    const names = readdirSync(`${FIXTURES}/cloned-mirror`)
      .map((file) => /^1\.(.+)\.json$/.exec(file)?.[1])
      .filter((name): name is string => !!name && name !== "root" && name !== "index");
    assert.equal(names.length, 22);
    for (const name of names) {
      const component = decodeManifest(fixture(`cloned-mirror/1.${name}.json`), "component", name);
      verifyManifest(component, { file: name, trusted: owner, now: FIXTURE_NOW });
      assert.ok(component.legacyFields.includes("signed.name"));
    }
  });
});

describe("TrustedMetadataSet against a simulated mirror", () => {
  let keys: SimulatorKeys;
  let spare: ReturnType<typeof takeTestKeys>;
  before(() => {
    const pool = takeTestKeys(9);
    keys = assignKeys(pool);
    spare = pool.slice(6);
  });

  async function mirror() {
    const sim = await MirrorSimulator.create(keys, { now: T0 });
    await sim.publish("tidb", "v1.0.0");
    return sim;
  }
  async function loaded(sim: MirrorSimulator, clock = T0) {
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => clock });
    set.updateTimestamp(await sim.file("timestamp.json"));
    set.updateSnapshot(await sim.file("snapshot.json"));
    set.updateIndex(await sim.file(`${sim.index.version}.index.json`));
    return set;
  }

  it("rejects a rolled-back timestamp version", async () => {
    const sim = await mirror();
    const old = await sim.file("timestamp.json");
    await sim.publish("tidb", "v1.0.1");
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    set.updateTimestamp(await sim.file("timestamp.json"));
    assert.throws(() => set.updateTimestamp(old), RollbackError);
  });

  it("rejects endless data (timestamp over 1024 bytes)", async () => {
    const sim = await mirror();
    sim.timestamp.meta["/snapshot.json"]!.hashes.sha384 = "0".repeat(400);
    const bytes = await sim.writeTimestamp();
    assert.ok(bytes.length > 1024);
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    assert.throws(() => set.updateTimestamp(bytes), TooLargeError);
  });

  it("rejects a timestamp with a second meta entry", async () => {
    const sim = await mirror();
    sim.timestamp.meta["/index.json"] = { hashes: { sha256: "00" }, length: 1 };
    const bytes = await sim.writeTimestamp();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    assert.throws(() => set.updateTimestamp(bytes), ManifestFormatError);
  });

  it("rejects an expired snapshot", async () => {
    const sim = await mirror();
    sim.snapshot.expires = formatRfc3339(new Date(T0.getTime() - 1000));
    await sim.commit();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    set.updateTimestamp(await sim.file("timestamp.json"));
    const snapshot = await sim.file("snapshot.json");
    assert.throws(() => set.updateSnapshot(snapshot), ExpiredError);
  });

  it("rejects a snapshot longer than the timestamp allows", async () => {
    const sim = await mirror();
    const snapshot = await sim.file("snapshot.json");
    sim.timestamp.meta["/snapshot.json"]!.length = snapshot.length - 1;
    await sim.writeTimestamp();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    set.updateTimestamp(await sim.file("timestamp.json"));
    assert.throws(() => set.updateSnapshot(snapshot), LengthMismatchError);
  });

  it("rejects an index whose version differs from the snapshot's", async () => {
    const sim = await mirror();
    const old = await sim.file(`${sim.index.version}.index.json`);
    sim.index.version++;
    await sim.writeIndex();
    sim.snapshot.meta["/index.json"]!.length = 100_000;
    await sim.commit();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    set.updateTimestamp(await sim.file("timestamp.json"));
    set.updateSnapshot(await sim.file("snapshot.json"));
    assert.throws(() => set.updateIndex(old), RollbackError);
  });

  it("rejects an owner named root", async () => {
    const sim = await mirror();
    sim.index.owners.root = structuredClone(sim.index.owners.pingcap!);
    sim.index.version++;
    await sim.writeIndex();
    await sim.commit();
    await assert.rejects(
      loaded(sim),
      (error) =>
        error instanceof ManifestFormatError && error.message.includes('an owner is named "root"'),
    );
  });

  it("rejects a component whose owner the index does not list", async () => {
    const sim = await mirror();
    sim.index.components.tidb!.owner = "nobody";
    sim.index.version++;
    await sim.writeIndex();
    await sim.commit();
    await assert.rejects(loaded(sim), ManifestFormatError);
  });

  it("rejects a component signed by the wrong owner key", async () => {
    const sim = await mirror();
    const manifest = sim.components.get("tidb")!;
    manifest.version++;
    await sim.writeComponent("tidb", [keys.index]);
    await sim.commit();
    const set = await loaded(sim);
    const bytes = await sim.file(`${manifest.version}.tidb.json`);
    assert.throws(() => set.updateComponent("tidb", bytes), SignatureError);
  });

  it("rejects a component manifest served under another component's name", async () => {
    const sim = await mirror();
    await sim.publish("pd", "v1.0.0");
    const set = await loaded(sim);
    const pd = await sim.file(`${sim.components.get("pd")!.version}.pd.json`);
    assert.throws(() => set.updateComponent("tidb", pd), VerificationError);
  });

  it("rejects a root signed only by the new keys", async () => {
    const sim = await mirror();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    const bytes = await sim.rotateRoot(spare.slice(0, 2), spare.slice(0, 2));
    assert.throws(() => set.updateRoot(bytes), SignatureError);
  });

  it("rejects a root signed only by the old keys", async () => {
    const sim = await mirror();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    const bytes = await sim.rotateRoot(spare.slice(0, 2), keys.root);
    assert.throws(() => set.updateRoot(bytes), SignatureError);
  });

  it("accepts a root signed by both thresholds and then trusts only the new root keys", async () => {
    const sim = await mirror();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    set.updateRoot(await sim.rotateRoot(spare.slice(0, 2)));
    assert.equal(set.root.signed.version, 2);
    const back = await sim.rotateRoot(keys.root, keys.root);
    assert.throws(() => set.updateRoot(back), SignatureError);
  });

  it("rejects a root whose version is not N+1", async () => {
    const sim = await mirror();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    sim.root = structuredClone(sim.root);
    sim.root.version = 3;
    assert.throws(() => set.updateRoot(signed(sim)), VerificationError);
  });

  it("rejects a root that expires before the one it replaces", async () => {
    const sim = await mirror();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    sim.root = structuredClone(sim.root);
    sim.root.version = 2;
    sim.root.expires = sim.expiry(31);
    assert.throws(() => set.updateRoot(signed(sim)), RollbackError);
  });

  it("rejects a root listing a key under an ID that is not its own", async () => {
    const sim = await mirror();
    sim.root = structuredClone(sim.root);
    sim.root.version = 2;
    const index = sim.root.roles.index;
    index.keys = { [keys.timestamp.id]: keys.index.publicInfo };
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    assert.throws(() => set.updateRoot(signed(sim)), ManifestFormatError);
  });

  it("rejects duplicate key ids in a signature list", async () => {
    const sim = await mirror();
    await sim.writeSnapshot([keys.snapshot, keys.snapshot]);
    await sim.writeTimestamp();
    const set = new TrustedMetadataSet(await sim.file("root.json"), { now: () => T0 });
    set.updateTimestamp(await sim.file("timestamp.json"));
    const snapshot = await sim.file("snapshot.json");
    assert.throws(
      () => set.updateSnapshot(snapshot),
      (error) => error instanceof SignatureError && error.message.includes("signed it twice"),
    );
  });

  it("rejects a tarball with a hash mismatch, a wrong length, a truncated body", async () => {
    const sim = await mirror();
    const set = await loaded(sim);
    const item = sim.components.get("tidb")!.platforms["linux/amd64"]!["v1.0.0"]! as VersionItem;
    const hashes = item.hashes as { sha256: string; sha512: string };
    set.checkTarball(item, { length: item.length, ...hashes });
    assert.throws(
      () => set.checkTarball(item, { ...hashes, length: item.length, sha512: "00" }),
      HashMismatchError,
    );
    assert.throws(
      () => set.checkTarball(item, { ...hashes, length: item.length + 1 }),
      LengthMismatchError,
    );
    assert.throws(
      () => set.checkTarball(item, { ...hashes, length: item.length - 1 }),
      LengthMismatchError,
    );
    assert.throws(
      () => set.checkTarball(item, { length: item.length, sha256: hashes.sha256 }),
      HashMismatchError,
    );
  });

  function signed(sim: MirrorSimulator): Uint8Array {
    return signFile(sim.root, sim.rootSigners);
  }
});
