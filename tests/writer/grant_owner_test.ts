import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { grantOwner } from "../../lib/writer/grant_owner.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { clientRefresh, day, makeMirror, readJson, treeDigest } from "../_simulator.ts";

describe("grantOwner()", () => {
  it("adds the owner in a new index version with threshold 1, then snapshot and timestamp", async () => {
    const { storage, keys } = await makeMirror({ owner: false });
    const result = await grantOwner(
      storage,
      { id: "jdoe", name: "Jane", key: keys.bob.publicInfo },
      {
        now: day(1),
      },
    );
    assert.deepEqual(result.files, ["2.index.json", "snapshot.json", "timestamp.json"]);
    const index = (await readJson(storage, "2.index.json")).signed;
    assert.deepEqual(index.owners.jdoe, {
      keys: { [keys.bob.id]: keys.bob.publicInfo },
      name: "Jane",
      threshold: 1,
    });
    assert.deepEqual(Object.keys(index.owners.jdoe), ["keys", "name", "threshold"]);
    assert.equal(index.expires, "2027-01-02T00:00:00Z"); // now (day 1) + 365 d
    const { result: refreshed } = await clientRefresh(storage, day(2));
    assert.equal(refreshed.index.signed.version, 2);
  });

  it("defaults the name to the ID", async () => {
    const { storage, keys } = await makeMirror({ owner: false });
    await grantOwner(storage, { id: "jdoe", key: keys.bob.publicInfo }, { now: day(1) });
    assert.equal((await readJson(storage, "2.index.json")).signed.owners.jdoe.name, "jdoe");
  });

  const refusals: Array<[string, string, "alice" | "bob", RegExp]> = [
    [
      "the reserved ID root (attack: clobber the root keys in the client's key store)",
      "root",
      "bob",
      /reserved/,
    ],
    ["the reserved ID index", "index", "bob", /reserved/],
    ["the reserved ID snapshot", "snapshot", "bob", /reserved/],
    ["the reserved ID timestamp", "timestamp", "bob", /reserved/],
    ["an existing owner ID", "alice", "bob", /already exists/],
    ["a key that another owner holds", "carol", "alice", /already belongs to owner "alice"/],
    ["an ID with a path separator", "a/b", "bob", /letters, digits/],
    ["an empty ID", "", "bob", /letters, digits/],
  ];
  for (const [what, id, key, message] of refusals) {
    it(`refuses ${what} and leaves the mirror as it was`, async () => {
      const { storage, keys } = await makeMirror();
      const before = await treeDigest(storage);
      await assert.rejects(
        grantOwner(storage, { id, key: keys[key].publicInfo }, { now: day(1) }),
        (error: Error) => error instanceof UsageError && message.test(error.message),
      );
      assert.deepEqual(await treeDigest(storage), before);
    });
  }

  it("refuses when the mirror's index key is missing, naming the key file to find", async () => {
    const { storage, keys } = await makeMirror({ owner: false });
    await storage.delete(`keys/${keys.role.id.slice(0, 16)}-index.json`);
    await storage.delete(`keys/${keys.role.id.slice(0, 16)}-snapshot.json`);
    await storage.delete(`keys/${keys.role.id.slice(0, 16)}-timestamp.json`);
    const before = await treeDigest(storage);
    await assert.rejects(
      grantOwner(storage, { id: "jdoe", key: keys.bob.publicInfo }, { now: day(1) }),
      (error: Error) =>
        error instanceof UsageError &&
        new RegExp(`${keys.role.id.slice(0, 16)}-index\\.json.*--key-dir`).test(error.message),
    );
    assert.deepEqual(await treeDigest(storage), before);
  });

  it("refuses a key folder holding a file that is not a key, naming it", async () => {
    const { storage, keys } = await makeMirror({ owner: false });
    await storage.write("keys/notes.json", '{"hello":1}');
    await assert.rejects(
      grantOwner(storage, { id: "jdoe", key: keys.bob.publicInfo }, { now: day(1) }),
      /keys\/notes\.json/,
    );
  });

  it("reads role keys from another key folder (--key-dir)", async () => {
    const { storage, keys } = await makeMirror({ owner: false });
    const keyStore = new MemoryStorage("mem://keys");
    for await (const file of storage.list("keys/")) {
      const object = await storage.read(file.path);
      await keyStore.write(
        file.path.slice(5),
        object.body instanceof Blob ? await object.body.text() : "",
      );
      await storage.delete(file.path);
    }
    await grantOwner(storage, { id: "jdoe", key: keys.bob.publicInfo }, {
      now: day(1),
      keys: { storage: keyStore, prefix: "" },
    });
    // The owner is in the new index, and that index verifies for a client: it was signed with
    // the index key found in the other folder.
    const { result } = await clientRefresh(storage, day(1));
    assert.equal(result.index.signed.version, 2);
    assert.deepEqual(result.index.signed.owners.jdoe, {
      keys: { [keys.bob.id]: keys.bob.publicInfo },
      name: "jdoe",
      threshold: 1,
    });
    // And no key file was written back into the mirror.
    assert.deepEqual(await Array.fromAsync(storage.list("keys/")), []);
  });
});
