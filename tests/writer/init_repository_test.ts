import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import * as nodePath from "node:path";
import { describe, it } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { canonicalJson } from "../../lib/format/canonical_json.ts";
import { sha256Hex } from "../../lib/format/hash.ts";
import { initRepository } from "../../lib/writer/init_repository.ts";
import { parseKeyFile } from "../../lib/format/load_key.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { readBytes, readText } from "../../lib/storage/read_bytes.ts";
import { clientRefresh, day, readJson, T0, tempDir, testKeys, treeDigest } from "../_simulator.ts";
import { takeTestKey } from "../_keys.ts";

async function smallInit(storage = new MemoryStorage("mem://init")) {
  const keys = await testKeys();
  const result = await initRepository(storage, {
    now: T0,
    keys: { root: [keys.root], index: [keys.role], snapshot: [keys.role], timestamp: [keys.role] },
  });
  return { storage, keys, result };
}

describe("initRepository()", () => {
  it("writes TiUP's init files: root.json (no 1.root.json), 1.index.json, snapshot, timestamp", async () => {
    const { storage, result } = await smallInit();
    assert.deepEqual(result.files, [
      "1.index.json",
      "root.json",
      "snapshot.json",
      "timestamp.json",
    ]);
    await assert.rejects(storage.stat("1.root.json"));
    const { result: refreshed } = await clientRefresh(storage, day(1));
    assert.equal(refreshed.rootVersion, 1);
    assert.equal(refreshed.timestampVersion, 1);
    assert.deepEqual(refreshed.index.signed.owners, {});
  });

  it("writes the exact Go field sets with UTC expiries: root/index +1 y, snapshot/timestamp +30 d", async () => {
    const { storage } = await smallInit();
    const root = (await readJson(storage, "root.json")).signed;
    assert.deepEqual(Object.keys(root), ["_type", "expires", "roles", "spec_version", "version"]);
    assert.deepEqual(Object.keys(root.roles), ["index", "root", "snapshot", "timestamp"]);
    assert.deepEqual(Object.keys(root.roles.index), ["keys", "threshold", "url"]);
    assert.equal(root.roles.snapshot.url, "/snapshot.json");
    assert.equal(root.expires, "2027-01-01T00:00:00Z");
    const index = (await readJson(storage, "1.index.json")).signed;
    assert.deepEqual(index, {
      _type: "index",
      components: {},
      default_components: [],
      expires: "2027-01-01T00:00:00Z",
      owners: {},
      spec_version: "0.1.0",
      version: 1,
    });
    const snapshot = (await readJson(storage, "snapshot.json")).signed;
    assert.equal(snapshot.version, 0);
    assert.equal(snapshot.expires, "2026-01-31T00:00:00Z");
    assert.deepEqual(snapshot.meta, {
      "/index.json": { length: (await readBytes(storage, "1.index.json")).length, version: 1 },
      "/root.json": { length: (await readBytes(storage, "root.json")).length, version: 1 },
    });
    const timestamp = (await readJson(storage, "timestamp.json")).signed;
    const snapshotBytes = await readBytes(storage, "snapshot.json");
    assert.equal(timestamp.meta["/snapshot.json"].hashes.sha256, sha256Hex(snapshotBytes));
    assert.equal(typeof timestamp.meta["/snapshot.json"].hashes.sha512, "string");
    assert.equal(timestamp.meta["/snapshot.json"].length, snapshotBytes.length);
    assert.ok((await readBytes(storage, "timestamp.json")).length <= 1024);
    for (const path of ["root.json", "1.index.json", "snapshot.json", "timestamp.json"]) {
      const text = await readText(storage, path);
      assert.equal(text, canonicalJson(JSON.parse(text)), `${path} is canonical`);
    }
  });

  it("saves each role key as keys/<id16>-<role>.json in TiUP's private key format", async () => {
    const { storage, keys, result } = await smallInit();
    assert.ok(result.keyFiles.includes(`keys/${keys.root.id.slice(0, 16)}-root.json`));
    assert.ok(result.keyFiles.includes(`keys/${keys.role.id.slice(0, 16)}-timestamp.json`));
    const text = await readText(storage, `keys/${keys.root.id.slice(0, 16)}-root.json`);
    assert.match(text, /^\{"keytype":"rsa","keyval":\{"private":"-----BEGIN PRIVATE KEY-----\\n/);
    assert.ok(text.endsWith("}\n"));
    const loaded = parseKeyFile(text);
    assert.equal(loaded.kind === "private" && loaded.key.id, keys.root.id);
  });

  it("generates 3 root keys (threshold 3) and one per other role when none are given", async () => {
    const { dir, remove } = await tempDir("ferry-init");
    try {
      const storage = new LocalStorage(nodePath.join(dir, "m"));
      // Pool keys stand in for generated ones (sign_manifest_test.ts tests the generator):
      // six fresh RSA keys cost seconds.
      const result = await initRepository(storage, { now: T0, generateKey: takeTestKey });
      assert.equal(result.keys.root.length, 3);
      assert.equal(result.root.roles.root.threshold, 3);
      assert.equal(result.keyFiles.length, 6);
      for (const file of result.keyFiles) {
        const mode = (await stat(nodePath.join(dir, "m", file))).mode & 0o777;
        assert.equal(mode, 0o600, file);
      }
      await loadRepositoryState(storage, { now: day(1) });
      await clientRefresh(storage, day(1));
    } finally {
      await remove();
    }
  });

  it("writes keys to another folder with keyOutput (-k/--key-dir)", async () => {
    const keys = await testKeys();
    const storage = new MemoryStorage("mem://m");
    const keyStore = new MemoryStorage("mem://k");
    await initRepository(storage, {
      now: T0,
      keyOutput: { storage: keyStore, prefix: "" },
      keys: {
        root: [keys.root],
        index: [keys.role],
        snapshot: [keys.role],
        timestamp: [keys.role],
      },
    });
    assert.equal(Object.keys(await treeDigest(keyStore)).length, 4);
    assert.ok(!Object.keys(await treeDigest(storage)).some((p) => p.startsWith("keys/")));
  });

  it("refuses a storage that is not empty and changes nothing", async () => {
    const storage = new MemoryStorage("mem://busy");
    await storage.write("notes.txt", "mine");
    const before = await treeDigest(storage);
    await assert.rejects(
      smallInit(storage),
      (error: Error) => error instanceof UsageError && /not empty.*notes\.txt/.test(error.message),
    );
    assert.deepEqual(await treeDigest(storage), before);
  });

  it("refuses a threshold the keys cannot meet", async () => {
    const keys = await testKeys();
    await assert.rejects(
      initRepository(new MemoryStorage(), {
        keys: {
          root: [keys.root],
          index: [keys.role],
          snapshot: [keys.role],
          timestamp: [keys.role],
        },
        thresholds: { root: 2 },
      }),
      /needs 2 keys, 1 given/,
    );
  });
});
