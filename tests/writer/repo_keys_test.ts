import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { loadRepoKeys } from "../../lib/writer/repo_keys.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import { privateKeyFileText } from "../../lib/format/private_key_file.ts";
import { roleSigners } from "../../lib/writer/role_signers.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { makeMirror } from "../_simulator.ts";

describe("loadRepoKeys()", () => {
  it("maps keys to roles by key ID, whatever the file is called", async () => {
    const { storage, keys } = await makeMirror();
    const root = (await loadRepositoryState(storage)).root.manifest.signed;
    const folder = new MemoryStorage("mem://keys");
    await folder.write("misnamed-index.json", privateKeyFileText(keys.root));
    await folder.write("whatever.json", privateKeyFileText(keys.role));
    await folder.write("owner.json", privateKeyFileText(keys.alice));
    await folder.write("someone-public.json", `${JSON.stringify(keys.bob.publicInfo)}\n`);
    await folder.write("README.txt", "not a key");
    await folder.write("sub/deeper.json", "{}");
    const found = await loadRepoKeys({ storage: folder, prefix: "" }, root);
    assert.deepEqual(found.root.map((k) => k.id), [keys.root.id]);
    for (const role of ["index", "snapshot", "timestamp"] as const) {
      assert.deepEqual(found[role].map((k) => k.id), [keys.role.id]);
    }
  });

  it("refuses a file in the key folder that is not a key file, naming it", async () => {
    const { storage } = await makeMirror();
    const root = (await loadRepositoryState(storage)).root.manifest.signed;
    const folder = new MemoryStorage("mem://keys");
    await folder.write("broken.json", '{"keytype":"rsa","keyval":{}}');
    await assert.rejects(
      loadRepoKeys({ storage: folder, prefix: "" }, root),
      (error: Error) =>
        error instanceof UsageError && /mem:\/\/keys\/broken\.json/.test(error.message),
    );
  });
});

describe("roleSigners()", () => {
  it("names the missing key files and --key-dir when a role lacks keys", async () => {
    const { storage, keys } = await makeMirror();
    const root = (await loadRepositoryState(storage)).root.manifest.signed;
    const none = { index: [], root: [], snapshot: [], timestamp: [] };
    assert.throws(
      () => roleSigners(none, root, "snapshot", "/srv/m/keys"),
      new RegExp(
        `0 of the 1 required snapshot keys are in "/srv/m/keys".*${
          keys.role.id.slice(0, 16)
        }-snapshot\\.json.*--key-dir`,
      ),
    );
  });

  it("signs the timestamp with exactly threshold keys, to stay under 1024 bytes", async () => {
    const { storage, keys } = await makeMirror();
    const root = (await loadRepositoryState(storage)).root.manifest.signed;
    const many = { index: [], root: [], snapshot: [], timestamp: [keys.role, keys.role] };
    assert.equal(roleSigners(many, root, "timestamp", "k").length, 1);
  });
});
