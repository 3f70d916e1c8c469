import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { addSignature } from "../../lib/format/add_signature.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import { prepareRootRotation } from "../../lib/writer/prepare_root_rotation.ts";
import { publishComponent } from "../../lib/writer/publish_component.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import { renewComponent } from "../../lib/writer/renew_component.ts";
import { rotateRoot } from "../../lib/writer/rotate_root.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { readBytes } from "../../lib/storage/read_bytes.ts";
import type { Storage, WriteData, WriteOptions } from "../../lib/storage/storage.ts";
import { takeTestKeys } from "../_keys.ts";
import {
  clientRefresh,
  day,
  helloPackage,
  makeMirror,
  readJson,
  treeDigest,
} from "../_simulator.ts";

let extra: Promise<SigningKey> | undefined;
function newRootKey(): Promise<SigningKey> {
  extra ??= Promise.resolve(takeTestKeys(1)[0]!);
  return extra;
}

/** Prepares root v2 that replaces the root key with a new one. */
async function prepareReplacement(storage: Storage, now = day(1)) {
  const state = await loadRepositoryState(storage);
  const fresh = await newRootKey();
  const oldId = Object.keys(state.root.manifest.signed.roles.root.keys)[0]!;
  const prepared = prepareRootRotation(state.root.manifest.signed, {
    addKeys: [fresh.publicInfo],
    removeKeys: [oldId.slice(0, 8)],
  }, { now });
  return { prepared, fresh, oldId };
}

describe("prepareRootRotation()", () => {
  it("writes root N+1, unsigned and canonical, with the root role's keys changed", async () => {
    const { storage } = await makeMirror();
    const { prepared, fresh, oldId } = await prepareReplacement(storage);
    const text = new TextDecoder().decode(prepared.bytes);
    assert.match(text, /^\{"signatures":\[\],"signed":\{"_type":"root",/);
    const signed = prepared.envelope.signed;
    assert.equal(signed.version, 2);
    assert.deepEqual(Object.keys(signed.roles.root.keys), [fresh.id]);
    assert.ok(!Object.hasOwn(signed.roles.root.keys, oldId));
    assert.equal(signed.expires, "2027-01-02T00:00:00Z");
  });

  it("never moves the expiry before the current root's", async () => {
    const { storage } = await makeMirror();
    const state = await loadRepositoryState(storage);
    const prepared = prepareRootRotation(state.root.manifest.signed, { expiresDays: 1 }, {
      now: day(1),
    });
    assert.equal(prepared.envelope.signed.expires, state.root.manifest.signed.expires);
  });

  const refusals: Array<[string, Parameters<typeof prepareRootRotation>[1], RegExp]> = [
    [
      "removing a key the root does not have",
      { removeKeys: ["deadbeefdeadbeef"] },
      /matches 0 root keys/,
    ],
    ["a key ID that is too short to be safe", { removeKeys: ["abc"] }, /at least 8 hex digits/],
    ["a threshold the keys cannot meet", { threshold: 2 }, /1 root keys for a threshold of 2/],
    ["a zero threshold", { threshold: 0 }, /threshold/],
  ];
  for (const [what, request, message] of refusals) {
    it(`refuses ${what}`, async () => {
      const { storage } = await makeMirror();
      const state = await loadRepositoryState(storage);
      assert.throws(
        () => prepareRootRotation(state.root.manifest.signed, request, { now: day(1) }),
        (error: Error) => error instanceof UsageError && message.test(error.message),
      );
    });
  }
});

describe("rotateRoot()", () => {
  it("publishes N+1.root.json signed by old and new keys; clients walk to it; root.json stays", async () => {
    const { storage } = await makeMirror();
    const rootBefore = await readBytes(storage, "root.json");
    const { prepared, fresh } = await prepareReplacement(storage);
    // The new key's holder signs offline; the old root key is in the mirror's keys/ folder.
    const signed = addSignature(prepared.bytes, fresh, "new-root.json");
    const result = await rotateRoot(storage, signed, { now: day(2), file: "new-root.json" });
    assert.equal(result.rootPath, "2.root.json");
    assert.equal(result.signedBy.length, 2);
    assert.deepEqual(result.files, ["2.root.json", "snapshot.json", "timestamp.json"]);
    assert.deepEqual(await readBytes(storage, "root.json"), rootBefore);
    const meta = (await readJson(storage, "snapshot.json")).signed.meta["/root.json"];
    assert.deepEqual(meta, {
      length: (await readBytes(storage, "2.root.json")).length,
      version: 2,
    });
    const { result: refreshed } = await clientRefresh(storage, day(3));
    assert.equal(refreshed.rootVersion, 2);
  });

  it("refuses a root the new key holders have not signed, and changes nothing", async () => {
    const { storage } = await makeMirror();
    const { prepared } = await prepareReplacement(storage);
    const before = await treeDigest(storage);
    await assert.rejects(
      rotateRoot(storage, prepared.bytes, { now: day(2), file: "new-root.json" }),
      (error: Error) =>
        error instanceof UsageError &&
        /1 of the 1 signatures required from root v1's keys and 0 of the 1 required from its own/
          .test(error.message) &&
        /ferry mirror sign new-root\.json/.test(error.message),
    );
    assert.deepEqual(await treeDigest(storage), before);
  });

  it("refuses a root only the new keys signed (attack: root takeover with a stolen mirror dir)", async () => {
    const { storage } = await makeMirror();
    const { prepared, fresh } = await prepareReplacement(storage);
    const signed = addSignature(prepared.bytes, fresh);
    const before = await treeDigest(storage);
    await assert.rejects(
      rotateRoot(storage, signed, { now: day(2), signWithKeyFolder: false }),
      /0 of the 1 signatures required from root v1's keys/,
    );
    assert.deepEqual(await treeDigest(storage), before);
  });

  it("refuses a root edited after it was signed (attack: swapped keys)", async () => {
    const { storage, keys } = await makeMirror();
    const { prepared, fresh } = await prepareReplacement(storage);
    const signed = new TextDecoder().decode(addSignature(prepared.bytes, fresh));
    const edited = signed.replaceAll(`"${fresh.id}"`, `"${keys.bob.id}"`)
      .replace(
        JSON.stringify(fresh.publicInfo.keyval.public),
        JSON.stringify(keys.bob.publicInfo.keyval.public),
      );
    const before = await treeDigest(storage);
    await assert.rejects(
      rotateRoot(storage, new TextEncoder().encode(edited), { now: day(2) }),
      /0 of the 1 required from its own root keys/,
    );
    assert.deepEqual(await treeDigest(storage), before);
  });

  it("refuses a root whose version is not N+1", async () => {
    const { storage } = await makeMirror();
    const { prepared, fresh } = await prepareReplacement(storage);
    const text = new TextDecoder().decode(prepared.bytes).replace('"version":2', '"version":3');
    await assert.rejects(
      rotateRoot(storage, addSignature(new TextEncoder().encode(text), fresh), { now: day(2) }),
      /root version 3 but the mirror's root is version 1/,
    );
  });

  it("refuses a file that is not a root manifest, naming it", async () => {
    const { storage } = await makeMirror();
    const snapshot = await readBytes(storage, "snapshot.json");
    await assert.rejects(
      rotateRoot(storage, snapshot, { now: day(2), file: "snapshot-copy.json" }),
      /snapshot-copy\.json.*_type/,
    );
    await assert.rejects(
      rotateRoot(storage, new TextEncoder().encode("{"), { now: day(2), file: "broken.json" }),
      /broken\.json/,
    );
  });

  it("fixes an expired root (TiUP #2722): publishing warns, rotating makes clients accept the mirror", async () => {
    const { storage, keys } = await makeMirror();
    const late = day(400); // root expired at day 365
    const published = await publishComponent(storage, helloPackage(), {
      key: keys.alice,
      now: late,
    });
    assert.match(published.warnings[0] ?? "", /root\.json.*expired.*rotate/);
    await assert.rejects(clientRefresh(storage, late));
    const { prepared, fresh } = await prepareReplacement(storage, late);
    await rotateRoot(storage, addSignature(prepared.bytes, fresh), { now: late });
    const { result } = await clientRefresh(storage, day(401));
    assert.equal(result.rootVersion, 2);
  });

  it("completes a rotation that crashed before the snapshot at the next write", async () => {
    const { storage } = await makeMirror();
    const { prepared, fresh } = await prepareReplacement(storage);
    const signed = addSignature(prepared.bytes, fresh);
    await assert.rejects(
      rotateRoot(new FailAt(storage, "snapshot.json"), signed, { now: day(2) }),
      /simulated crash/,
    );
    await storage.stat("2.root.json");
    // Clients still verify the mirror (its timestamp and snapshot keys did not change).
    await clientRefresh(storage, day(2));
    const state = await loadRepositoryState(storage);
    assert.equal(state.root.manifest.signed.version, 2);
    await renewComponent(storage, {}, { now: day(3) });
    const meta = (await readJson(storage, "snapshot.json")).signed.meta["/root.json"];
    assert.equal(meta.version, 2);
    const { result } = await clientRefresh(storage, day(3));
    assert.equal(result.rootVersion, 2);
  });
});

/** Storage that fails like a killed writer when asked to write `failAt`. */
class FailAt extends MemoryStorage {
  constructor(readonly inner: Storage, readonly failAt: string) {
    super(inner.location);
  }
  override stat(path: string) {
    return this.inner.stat(path);
  }
  override read(path: string, options?: Parameters<Storage["read"]>[1]) {
    return this.inner.read(path, options);
  }
  override list(prefix: string) {
    return this.inner.list(prefix);
  }
  override write(path: string, data: WriteData, options?: WriteOptions) {
    if (path === this.failAt) return Promise.reject(new Error("simulated crash"));
    return this.inner.write(path, data, options);
  }
  override delete(path: string) {
    return this.inner.delete(path);
  }
}
