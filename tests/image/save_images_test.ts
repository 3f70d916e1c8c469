import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HashMismatchError, NotFoundError } from "../../lib/errors.ts";
import { INVENTORY_PATH } from "../../lib/image/inventory.ts";
import { blobPath, LAYOUT_INDEX_PATH } from "../../lib/image/layout_files.ts";
import { readBundleInventory } from "../../lib/image/read_bundle_inventory.ts";
import { saveImages } from "../../lib/image/save_images.ts";
import { verifyBundle } from "../../lib/image/verify_bundle.ts";
import { readText } from "../../lib/storage/read_bytes.ts";
import { emptyBundle } from "./_bundle_fixture.ts";
import { MemoryRegistry, OCI_INDEX } from "./_memory_registry.ts";

const REF = (repository: string, tag: string) => ({ registry: "reg.test", repository, tag });

function multiArch(registry: MemoryRegistry) {
  const amd64 = registry.image("app", undefined, "amd64");
  const arm64 = registry.image("app", undefined, "arm64");
  return registry.manifest("app", "v1", {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { ...amd64, platform: { os: "linux", architecture: "amd64" } },
      { ...arm64, platform: { os: "linux", architecture: "arm64" } },
    ],
  }, OCI_INDEX);
}

describe("saveImages()", () => {
  test("stores an index, every platform and their blobs under their digests", async () => {
    const registry = new MemoryRegistry();
    const index = multiArch(registry);
    const storage = await emptyBundle();
    const report = await saveImages(storage, [REF("app", "v1")], { clients: () => registry });
    assert.equal(report.manifests, 3);
    assert.equal(report.blobsDownloaded, 4);
    const layout = JSON.parse(await readText(storage, LAYOUT_INDEX_PATH));
    assert.deepEqual(layout.manifests.map((m: { digest: string }) => m.digest), [index.digest]);
    assert.equal(
      layout.manifests[0].annotations["org.opencontainers.image.ref.name"],
      "reg.test/app:v1",
    );
    assert.equal((await verifyBundle(storage)).ok, true);
  });

  test("keeps only the platforms asked for", async () => {
    const registry = new MemoryRegistry();
    multiArch(registry);
    const storage = await emptyBundle();
    const report = await saveImages(storage, [REF("app", "v1")], {
      clients: () => registry,
      platforms: ["linux/arm64"],
    });
    assert.equal(report.manifests, 2);
    assert.equal((await verifyBundle(storage)).ok, true);
  });

  test("stores a blob two images share once", async () => {
    const registry = new MemoryRegistry();
    registry.image("one", "v1", "same");
    registry.image("two", "v1", "same");
    const storage = await emptyBundle();
    const report = await saveImages(storage, [REF("one", "v1"), REF("two", "v1")], {
      clients: () => registry,
    });
    assert.equal(report.blobsDownloaded, 2);
    const inventory = await readBundleInventory(storage);
    assert.deepEqual(
      inventory!.repositories["reg.test/one"]!.blobs,
      inventory!.repositories["reg.test/two"]!.blobs,
    );
  });

  test("into an existing bundle fetches only the blobs it lacks", async () => {
    const registry = new MemoryRegistry();
    registry.image("one", "v1", "first");
    const storage = await emptyBundle();
    await saveImages(storage, [REF("one", "v1")], { clients: () => registry });
    registry.image("one", "v2", "second");
    registry.requests.length = 0;
    const report = await saveImages(storage, [REF("one", "v1"), REF("one", "v2")], {
      clients: () => registry,
    });
    assert.equal(report.blobsDownloaded, 2);
    assert.equal(report.blobsPresent, 2);
    assert.equal(registry.requests.filter((r) => r.includes("/blobs/")).length, 2);
    const inventory = await readBundleInventory(storage);
    assert.equal(inventory!.version, 2);
    assert.deepEqual(Object.keys(inventory!.repositories["reg.test/one"]!.tags).sort(), [
      "v1",
      "v2",
    ]);
  });

  test("rejects a blob whose bytes do not match its digest; nothing of it becomes visible", async () => {
    const registry = new MemoryRegistry();
    const image = registry.image("app", "v1", "real");
    const manifest = JSON.parse(
      new TextDecoder().decode(registry.manifests.get(image.digest)!.bytes),
    );
    const layer = manifest.layers[0].digest as string;
    registry.tamper = (digest, bytes) => {
      if (digest !== layer) return bytes;
      const copy = new Uint8Array(bytes);
      copy[0] = copy[0]! ^ 1;
      return copy;
    };
    const storage = await emptyBundle();
    await assert.rejects(
      saveImages(storage, [REF("app", "v1")], { clients: () => registry }),
      HashMismatchError,
    );
    await assert.rejects(storage.stat(blobPath(layer)), NotFoundError);
    await assert.rejects(storage.stat(blobPath(image.digest)), NotFoundError);
    await assert.rejects(storage.stat(INVENTORY_PATH), NotFoundError);
  });

  test("rejects a platform manifest whose bytes do not hash to the index's digest", async () => {
    const registry = new MemoryRegistry();
    const index = multiArch(registry);
    const child = JSON.parse(new TextDecoder().decode(registry.manifests.get(index.digest)!.bytes))
      .manifests[1].digest as string;
    // The registry answers the digest with other bytes (a converted or swapped manifest).
    const stored = registry.manifests.get(child)!;
    registry.manifests.set(child, {
      ...stored,
      bytes: new TextEncoder().encode('{"schemaVersion":2}'),
    });
    const storage = await emptyBundle();
    await assert.rejects(
      saveImages(storage, [REF("app", "v1")], { clients: () => registry }),
      HashMismatchError,
    );
    await assert.rejects(storage.stat(INVENTORY_PATH), NotFoundError);
    await assert.rejects(storage.stat(LAYOUT_INDEX_PATH), NotFoundError);
  });

  test("refuses an image the registry does not have", async () => {
    const storage = await emptyBundle();
    await assert.rejects(
      saveImages(storage, [REF("nope", "v1")], { clients: () => new MemoryRegistry() }),
      NotFoundError,
    );
  });
});
