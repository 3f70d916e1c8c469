import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  HashMismatchError,
  NotFoundError,
  RollbackError,
  SignatureError,
  VerificationError,
} from "../../lib/errors.ts";
import { diffBundle } from "../../lib/image/diff_bundle.ts";
import { INVENTORY_PATH } from "../../lib/image/inventory.ts";
import { blobPath } from "../../lib/image/layout_files.ts";
import { loadBundle } from "../../lib/image/load_bundle.ts";
import { readBundleInventory } from "../../lib/image/read_bundle_inventory.ts";
import { saveImages } from "../../lib/image/save_images.ts";
import { verifyBundle } from "../../lib/image/verify_bundle.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { readBytes } from "../../lib/storage/read_bytes.ts";
import { emptyBundle } from "./_bundle_fixture.ts";
import { MemoryRegistry } from "./_memory_registry.ts";

const REF = (repository: string) => ({ registry: "reg.test", repository, tag: "v1" });

/** A near bundle of three images, a far copy of it, then one image changed on the near side. */
async function nearAndFar() {
  const registry = new MemoryRegistry();
  for (const name of ["a", "b", "c"]) registry.image(name, "v1", `${name} one`);
  const near = await emptyBundle();
  const images = ["a", "b", "c"].map(REF);
  await saveImages(near, images, { clients: () => registry });
  const far = new MemoryStorage("mem://far");
  for await (const file of near.list("")) {
    if (!file.path.startsWith("keys/")) {
      await far.write(file.path, await readBytes(near, file.path));
    }
  }
  const farInventory = await readBytes(far, INVENTORY_PATH);
  const changed = registry.image("b", "v1", "b two");
  await saveImages(near, images, { clients: () => registry });
  return { near, far, farInventory, changed };
}

describe("diffBundle() and loadBundle()", () => {
  test("a delta carries only the changed image's content, and loading it updates the far side", async () => {
    const { near, far, farInventory, changed } = await nearAndFar();
    const delta = new MemoryStorage("mem://delta");
    const report = await diffBundle(near, farInventory, delta);
    assert.equal(report.files, 3); // the new manifest, config and layer
    const loaded = await loadBundle(delta, far);
    assert.equal(loaded.files, 3);
    const inventory = await readBundleInventory(far);
    assert.equal(inventory!.repositories["reg.test/b"]!.tags.v1, changed.digest);
    assert.equal((await verifyBundle(far)).ok, true);
  });

  test("load refuses a delta with a tampered blob and leaves the far side as it was", async () => {
    const { near, far, farInventory, changed } = await nearAndFar();
    const delta = new MemoryStorage("mem://delta");
    await diffBundle(near, farInventory, delta);
    const path = blobPath(changed.digest);
    const bytes = new Uint8Array(await readBytes(delta, path));
    bytes[5] = bytes[5]! ^ 1;
    await delta.write(path, bytes);
    await assert.rejects(loadBundle(delta, far), HashMismatchError);
    await assert.rejects(far.stat(path), NotFoundError);
    assert.deepEqual(await readBytes(far, INVENTORY_PATH), farInventory);
  });

  test("load refuses a delta whose inventory was tampered with", async () => {
    const { near, far, farInventory } = await nearAndFar();
    const delta = new MemoryStorage("mem://delta");
    await diffBundle(near, farInventory, delta);
    const text = new TextDecoder().decode(await readBytes(delta, INVENTORY_PATH));
    await delta.write(INVENTORY_PATH, text.replace('"reg.test/a"', '"reg.test/z"'));
    await assert.rejects(loadBundle(delta, far), SignatureError);
    assert.deepEqual(await readBytes(far, INVENTORY_PATH), farInventory);
  });

  test("load refuses an older inventory (a replayed delta)", async () => {
    const { near, far, farInventory } = await nearAndFar();
    const delta = new MemoryStorage("mem://delta");
    await diffBundle(near, farInventory, delta);
    await loadBundle(delta, far);
    const old = new MemoryStorage("mem://old");
    await old.write(INVENTORY_PATH, farInventory);
    await assert.rejects(loadBundle(old, far), RollbackError);
  });

  test("load refuses a delta made against another inventory (content missing on both sides)", async () => {
    const { near, far } = await nearAndFar();
    const delta = new MemoryStorage("mem://delta");
    // Made as if the far side had everything: no content at all.
    await diffBundle(near, await readBytes(near, INVENTORY_PATH), delta);
    await assert.rejects(loadBundle(delta, far), VerificationError);
  });
});
