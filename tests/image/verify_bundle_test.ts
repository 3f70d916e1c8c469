import assert from "node:assert/strict";
import { test } from "node:test";
import { saveImages } from "../../lib/image/save_images.ts";
import { verifyBundle } from "../../lib/image/verify_bundle.ts";
import { readBytes } from "../../lib/storage/read_bytes.ts";
import { emptyBundle } from "./_bundle_fixture.ts";
import { MemoryRegistry } from "./_memory_registry.ts";

async function savedBundle() {
  const registry = new MemoryRegistry();
  registry.image("app", "v1", "one");
  const storage = await emptyBundle();
  await saveImages(storage, [{ registry: "reg.test", repository: "app", tag: "v1" }], {
    clients: () => registry,
  });
  return storage;
}

test("verifyBundle() passes from a trusted root.json that is the bundle's own", async () => {
  const storage = await savedBundle();
  const report = await verifyBundle(storage, { root: await readBytes(storage, "root.json") });
  assert.equal(report.ok, true, JSON.stringify(report.problems));
});

test("verifyBundle() rejects a re-rooted bundle (new root.json, re-signed inventory) with --root", async () => {
  const trusted = await readBytes(await savedBundle(), "root.json");
  // An attacker's bundle: its own root and keys, everything consistent inside it.
  const forged = await savedBundle();
  assert.equal((await verifyBundle(forged)).ok, true);
  const report = await verifyBundle(forged, { root: trusted });
  assert.equal(report.ok, false);
  assert.equal(report.problems[0]?.kind, "signature");
});

test("verifyBundle() reports an expired inventory", async () => {
  const storage = await savedBundle();
  const report = await verifyBundle(storage, { now: new Date(Date.now() + 400 * 86_400_000) });
  assert.equal(report.problems[0]?.kind, "expired");
});
