import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { acceptClass } from "../../proxy/accept_class.ts";
import { cacheKeys } from "../../proxy/cache_keys.ts";
import { evictCache } from "../../proxy/evict_cache.ts";
import { ManifestCache } from "../../proxy/manifest_cache.ts";
import { sha256 } from "./_fake_registry.ts";

const ANY = acceptClass("*/*");

async function image(storage: MemoryStorage, repo: string, tag: string, layers: string[]) {
  const digests = [];
  for (const layer of layers) {
    const digest = sha256(layer);
    await storage.write(cacheKeys.blob(digest), layer);
    digests.push(digest);
  }
  const bytes = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    layers: digests.map((digest) => ({ digest })),
  }));
  const digest = sha256(bytes);
  const cache = new ManifestCache(storage);
  const mediaType = "application/vnd.oci.image.manifest.v1+json";
  await cache.put({ digest, mediaType, bytes });
  await cache.putTag(
    "r.test",
    repo,
    tag,
    { digest, mediaType, size: bytes.length, checkedAt: 0 },
    ANY,
  );
  return { digest, layers: digests };
}

async function keys(storage: MemoryStorage): Promise<string[]> {
  const all = [];
  for await (const stat of storage.list("")) all.push(stat.path);
  return all;
}

describe("evictCache()", () => {
  it("never deletes a layer that a remaining image still needs", async () => {
    const storage = new MemoryStorage();
    const shared = "S".repeat(1000);
    const old = await image(storage, "old", "v1", [shared, "O".repeat(1000)]);
    const recent = await image(storage, "recent", "v1", [shared, "R".repeat(1000)]);
    const used = new Map<string, number>([
      [cacheKeys.tag("r.test", "old", "v1", ANY.key), 1],
      [cacheKeys.tag("r.test", "recent", "v1", ANY.key), 9],
    ]);
    const result = await evictCache(storage, {
      targetBytes: 2500,
      lastUsed: (key) => used.get(key) ?? 5,
    });
    const left = await keys(storage);
    assert.ok(left.includes(cacheKeys.blob(old.layers[0]!)), "the shared layer stays");
    assert.ok(!left.includes(cacheKeys.blob(old.layers[1]!)), "the old image's own layer goes");
    assert.ok(!left.includes(cacheKeys.manifest(old.digest)));
    for (const digest of recent.layers) assert.ok(left.includes(cacheKeys.blob(digest)));
    assert.ok(left.includes(cacheKeys.manifest(recent.digest)));
    assert.ok(result.totalBytes <= 2500 || result.deletedKeys.length > 0);
  });

  it("leaves the cache alone under the limit", async () => {
    const storage = new MemoryStorage();
    await image(storage, "a", "v1", ["x"]);
    const result = await evictCache(storage, { targetBytes: 1_000_000 });
    assert.equal(result.deletedBytes, 0);
  });

  it("counts the bytes of downloads in flight against the limit", async () => {
    const storage = new MemoryStorage();
    await image(storage, "a", "v1", ["x".repeat(1000)]);
    const under = await evictCache(storage, { targetBytes: 2000 });
    assert.equal(under.deletedBytes, 0);
    const withInflight = await evictCache(storage, { targetBytes: 2000, inflightBytes: 1500 });
    assert.ok(withInflight.deletedBytes > 0, "room is made for the temporary files in flight");
    assert.ok(withInflight.totalBytes <= 2000);
  });

  it("does not delete pinned blobs", async () => {
    const storage = new MemoryStorage();
    const digest = sha256("loose");
    await storage.write(cacheKeys.blob(digest), "loose");
    await evictCache(storage, { targetBytes: 0, isPinned: () => true });
    assert.deepEqual(await keys(storage), [cacheKeys.blob(digest)]);
  });
});
