import assert from "node:assert/strict";
import { test } from "node:test";
import { updateRepository } from "../../lib/writer/update_repository.ts";
import { day, makeMirror, treeDigest } from "../_simulator.ts";

test("updateRepository() writes nothing when the plan has no change", async () => {
  const { storage } = await makeMirror();
  const before = await treeDigest(storage);
  let planned = 0;
  const result = await updateRepository(storage, (state) => {
    planned = state.timestamp.manifest.signed.version;
    return undefined;
  }, { now: day(1) });
  assert.deepEqual(result.files, []);
  assert.equal(result.timestampVersion, planned);
  assert.deepEqual(await treeDigest(storage), before);
});
