/**
 * The cache's size limits hold for downloads in flight and for what a killed proxy left behind:
 * an endless blob is cut off, a blob longer than its manifest says is cut off at that size, and
 * stale temporary files are swept when the proxy starts.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { describe, it } from "node:test";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { cacheKeys } from "../../proxy/cache_keys.ts";
import { sha256 } from "./_fake_registry.ts";
import { setup } from "./_setup_proxy.ts";

const CHUNK = 64 * 1024;

/** A body without Content-Length that sends `limit` bytes of zeros (or more); counts what it sent. */
function endlessBody(limit: number) {
  const sent = { bytes: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent.bytes >= limit) return controller.close();
      controller.enqueue(new Uint8Array(CHUNK));
      sent.bytes += CHUNK;
    },
    cancel() {
      sent.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { body, sent };
}

async function blobKeys(storage: { list(prefix: string): AsyncIterable<{ path: string }> }) {
  const keys: string[] = [];
  for await (const stat of storage.list("blobs/")) keys.push(stat.path);
  return keys;
}

async function drain(response: Response): Promise<"complete" | "failed"> {
  try {
    await response.arrayBuffer();
    return "complete";
  } catch {
    return "failed";
  }
}

describe("blob downloads in flight", () => {
  it("cuts off an endless blob without Content-Length at the cache's size limit", async () => {
    const maxBytes = 1024 * 1024;
    const { registry, get, storage, logs } = setup({
      configure: (config) => (config.cache.maxBytes = maxBytes),
    });
    const digest = sha256("the real blob");
    const endless = endlessBody(64 * maxBytes); // "endless": 64 times the limit
    registry.override = (request) =>
      request.url.includes("/blobs/") ? new Response(endless.body) : undefined;
    const response = await get(`/v2/fake.test/team/app/blobs/${digest}`);
    assert.equal(await drain(response), "failed", "the client never gets a complete blob");
    assert.ok(endless.sent.bytes <= maxBytes + 2 * CHUNK, `read ${endless.sent.bytes} bytes`);
    assert.ok(endless.sent.cancelled, "the upstream body is cancelled");
    assert.deepEqual(await blobKeys(storage), []);
    assert.ok(logs.some((l) => l.includes("larger than the limit")), logs.join("\n"));
  });

  it("cuts off a blob at the size its manifest declared, whatever the upstream sends", async () => {
    const { registry, get, storage } = setup(); // no cache limit: the declared size is the cap
    const image = registry.addImage("team/app", "v1", "small layer");
    const manifest = await get("/v2/fake.test/team/app/manifests/v1", {
      accept: "application/vnd.oci.image.manifest.v1+json",
    });
    assert.equal(manifest.status, 200);
    const endless = endlessBody(256 * CHUNK);
    registry.override = (request) =>
      request.url.includes("/blobs/") ? new Response(endless.body) : undefined;
    const response = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`);
    assert.equal(await drain(response), "failed");
    assert.ok(endless.sent.bytes <= 2 * CHUNK, `read ${endless.sent.bytes} bytes`);
    assert.deepEqual(await blobKeys(storage), []);
  });

  it("does not let one repository's manifest shrink the cap of another's blob", async () => {
    const { registry, get, storage } = setup();
    const real = registry.addImage("team/app", "v1", "the real layer, longer than one byte");
    const type = "application/vnd.oci.image.manifest.v1+json";
    const evil = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: type,
      config: { digest: real.configDigest, size: 1 },
      layers: [{ digest: real.layerDigest, size: 1 }],
    }));
    registry.manifests.set(sha256(evil), { type, bytes: evil });
    registry.tags.set("evil/app:v1", sha256(evil));
    assert.equal((await get("/v2/fake.test/evil/app/manifests/v1", { accept: type })).status, 200);
    const blob = await get(`/v2/fake.test/team/app/blobs/${real.layerDigest}`);
    assert.equal(await drain(blob), "complete");
    await get("/v2/"); // let the commit land
    assert.deepEqual(await blobKeys(storage), [cacheKeys.blob(real.layerDigest)]);
  });

  it("refuses before reading a blob whose Content-Length exceeds the declared size", async () => {
    const { registry, get, storage } = setup();
    const image = registry.addImage("team/app", "v1", "small layer");
    await get("/v2/fake.test/team/app/manifests/v1", {
      accept: "application/vnd.oci.image.manifest.v1+json",
    });
    const endless = endlessBody(256 * CHUNK);
    registry.override = (request) =>
      request.url.includes("/blobs/")
        ? new Response(endless.body, { headers: { "content-length": String(256 * CHUNK) } })
        : undefined;
    const response = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`);
    assert.equal(response.status, 502);
    await response.body?.cancel();
    assert.equal(endless.sent.bytes, 0);
    assert.deepEqual(await blobKeys(storage), []);
  });
});

describe("blob downloads in flight together", () => {
  it("cut off the one that would take them past the cache's size limit", async () => {
    const maxBytes = 1024 * 1024;
    const { registry, app, storage, logs } = setup({
      configure: (config) => (config.cache.maxBytes = maxBytes),
    });
    // Each blob fits the limit alone; the fake sends half of each, then waits for the gate.
    const digests = ["a", "b"].map((fill) =>
      registry.addBlob(new Uint8Array(900 * 1024).fill(fill.charCodeAt(0)))
    );
    let release!: () => void;
    registry.blobGate = new Promise<void>((resolve) => (release = resolve));
    const responses = [];
    for (const digest of digests) {
      responses.push(await app.request(`http://proxy.local/v2/fake.test/x/blobs/${digest}`));
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // both first halves read
    release();
    const outcomes = await Promise.all(responses.map(drain));
    await app.idle();
    assert.deepEqual(outcomes.sort(), ["complete", "failed"]);
    assert.equal((await blobKeys(storage)).length, 1, "one blob fitted and was cached");
    assert.ok(logs.some((l) => l.includes("the blob downloads in flight")), logs.join("\n"));
    assert.ok(!logs.some((l) => l.startsWith("Evicted")), "a committed blob is not counted twice");
  });
});

describe("createRegistryProxy() on a local cache directory", () => {
  it("sweeps the stale temporary files of a killed proxy at start, not fresh ones", async () => {
    const dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-proxy-cache-"));
    try {
      const folder = nodePath.join(dir, "blobs", "sha256", "ab");
      await fs.mkdir(folder, { recursive: true });
      const stale = nodePath.join(folder, ".ferry-tmp-0123456789abcdef");
      const fresh = nodePath.join(folder, ".ferry-tmp-fedcba9876543210");
      const blob = nodePath.join(folder, "ab".padEnd(64, "0"));
      await fs.writeFile(stale, new Uint8Array(5000));
      await fs.writeFile(fresh, new Uint8Array(10));
      await fs.writeFile(blob, "kept");
      const hourAgo = new Date(Date.now() - 60 * 60_000);
      await fs.utimes(stale, hourAgo, hourAgo);

      const { app, logs } = setup({ storage: new LocalStorage(dir) });
      await app.idle();
      const left = await fs.readdir(folder);
      assert.ok(!left.includes(nodePath.basename(stale)), "the stale temporary file is removed");
      assert.ok(left.includes(nodePath.basename(fresh)), "a live download's file stays");
      assert.ok(left.includes(nodePath.basename(blob)));
      assert.ok(logs.some((l) => /Removed 1 stale temporary files/.test(l)));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
