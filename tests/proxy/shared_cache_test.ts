/**
 * Proxy replicas sharing one cache bucket on the real Ceph RGW of the project's rig (started
 * once for this file): one upstream download per blob across replicas, takeover of a lease whose
 * holder stopped renewing it, fencing of a holder that lost it, blobs over the single-PUT cap,
 * shared tag answers, and two replicas evicting at once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, test } from "node:test";
import { NotFoundError } from "../../lib/errors.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { loadS3Config } from "../../lib/storage/s3_config.ts";
import { S3Storage } from "../../lib/storage/s3_storage.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { acquireLease, type LeaseStorage } from "../../lib/writer/mirror_lease.ts";
import { cacheKeys } from "../../proxy/cache_keys.ts";
import { evictCache } from "../../proxy/evict_cache.ts";
import { createRegistryProxy, type RegistryProxy } from "../../proxy/create_registry_proxy.ts";
import { defaultProxyConfig, type ProxyConfig } from "../../proxy/proxy_config.ts";
import { S3_SKIP, s3Rig, stopS3Rig } from "../storage/_s3_rig.ts";
import { FakeRegistry, sha256 } from "./_fake_registry.ts";

const HEAVY = { timeout: 180_000 };
const MIB = 1024 * 1024;

after(stopS3Rig);

/** `count` storages on one fresh prefix of the rig's bucket (each a replica's own client). */
async function sharedBucket(
  count: number,
): Promise<{ storages: S3Storage[]; empty(): Promise<void> }> {
  const rig = await s3Rig();
  const first = await rig.storage();
  const prefix = first.location.replace(`s3://${rig.bucket}/`, "") + "/";
  const config = await loadS3Config({ ...rig.env, HOME: rig.stateDir });
  const storages = [first];
  while (storages.length < count) {
    storages.push(new S3Storage({ bucket: rig.bucket, prefix }, { config, retryDelayMs: 50 }));
  }
  return { storages, empty: () => rig.empty(first) };
}

interface Replica {
  app: RegistryProxy;
  get(path: string): Promise<Response>;
}

function replica(
  registry: FakeRegistry,
  storage: Storage,
  options: { ttlMs?: number; configure?: (config: ProxyConfig) => void } = {},
): Replica {
  const config = defaultProxyConfig();
  config.registries["fake.test"] = { name: "fake.test", url: registry.origin };
  config.upstream.retries = 0;
  options.configure?.(config);
  const app = createRegistryProxy(config, {
    fetch: registry.fetch,
    resolveHost: () => Promise.resolve(["93.184.216.34"]),
    storage,
    blobLease: { ttlMs: options.ttlMs ?? 3000, pollMs: 20 },
    onLog: () => {},
  });
  return { app, get: async (path) => await app.request(`http://proxy.local${path}`) };
}

async function bodyDigest(response: Response): Promise<string> {
  assert.equal(response.status, 200, await response.clone().text().catch(() => ""));
  const bytes = new Uint8Array(await response.arrayBuffer());
  return sha256(bytes);
}

/** Resolves once `check` holds, looking every 20 ms (bounded by the test's timeout). */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}

const leaseKey = (digest: string) => cacheKeys.blobLease(digest);

async function exists(storage: Storage, path: string): Promise<boolean> {
  return await storage.stat(path).then(() => true, (error) => {
    if (error instanceof NotFoundError) return false;
    throw error;
  });
}

/** `storage` as a replica whose lease swaps never land (dead, or cut off from the bucket). */
function withSwapsLost(storage: S3Storage): LeaseStorage {
  return {
    location: storage.location,
    stat: (path, options) => storage.stat(path, options),
    read: (path, options) => storage.read(path, options),
    list: (prefix, options) => storage.list(prefix, options),
    write: (path, data, options) => storage.write(path, data, options),
    delete: (path, options) => storage.delete(path, options),
    replaceIfMatch: () => Promise.resolve(undefined),
  };
}

function noise(bytes: number, seed: string): Uint8Array {
  const out = new Uint8Array(bytes);
  let block = createHash("sha256").update(seed).digest();
  for (let at = 0; at < bytes; at += block.length) {
    out.set(block.subarray(0, Math.min(block.length, bytes - at)), at);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

if (S3_SKIP) {
  test("proxy replicas on one S3 bucket", { skip: S3_SKIP }, () => {});
} else {
  test("three replicas on one bucket download a cold blob once between them", HEAVY, async () => {
    const bucket = await sharedBucket(3);
    try {
      const registry = new FakeRegistry();
      const layer = "layer bytes ".repeat(50_000);
      const image = registry.addImage("library/app", "v1", layer);
      let open!: () => void;
      registry.blobGate = new Promise((resolve) => (open = resolve));
      const replicas = bucket.storages.map((storage) => replica(registry, storage));
      const path = `/v2/fake.test/library/app/blobs/${image.layerDigest}`;
      const first = replicas[0]!.get(path);
      await until(() => registry.count("GET", image.layerDigest) === 1);
      // Nine more pulls on all three replicas while the first download is held mid-blob.
      const rest = Array.from({ length: 9 }, (_, i) => replicas[i % 3]!.get(path));
      await new Promise((resolve) => setTimeout(resolve, 300));
      open();
      const digests = await Promise.all([first, ...rest].map(async (r) => bodyDigest(await r)));
      assert.deepEqual(new Set(digests), new Set([image.layerDigest]));
      assert.equal(registry.count("GET", image.layerDigest), 1);
      // The commit, then the removal of the lease, follow the clients' last byte.
      await until(async () => !(await exists(bucket.storages[0]!, leaseKey(image.layerDigest))));
      assert.equal(await exists(bucket.storages[0]!, cacheKeys.blob(image.layerDigest)), true);
    } finally {
      await bucket.empty();
    }
  });

  test("a replica takes over a blob whose fetcher stopped renewing its lease", HEAVY, async () => {
    const bucket = await sharedBucket(1);
    const storage = bucket.storages[0]!;
    try {
      const registry = new FakeRegistry();
      const image = registry.addImage("library/app", "v1", "taken over");
      // A fetcher that died: it holds the lease, and its renewals never land.
      const dead = withSwapsLost(storage);
      const key = cacheKeys.blobLease(image.layerDigest);
      await acquireLease(dead, key, { holder: { pid: 1, host: "dead" }, ttlMs: 1500 });
      const response = await replica(registry, storage).get(
        `/v2/fake.test/library/app/blobs/${image.layerDigest}`,
      );
      assert.equal(await bodyDigest(response), image.layerDigest);
      assert.equal(registry.count("GET", image.layerDigest), 1);
      await until(async () => !(await exists(storage, leaseKey(image.layerDigest))));
      assert.equal(await exists(storage, cacheKeys.blob(image.layerDigest)), true);
    } finally {
      await bucket.empty();
    }
  });

  test(
    "a replica that lost its blob lease leaves the commit to the new holder",
    HEAVY,
    async () => {
      const bucket = await sharedBucket(1);
      const storage = bucket.storages[0]!;
      try {
        const registry = new FakeRegistry();
        const image = registry.addImage("library/app", "v1", "fenced ".repeat(1000));
        const path = `/v2/fake.test/library/app/blobs/${image.layerDigest}`;
        // The first replica's renewals never land (it is cut off from the bucket, or paused).
        let open!: () => void;
        registry.blobGate = new Promise((resolve) => (open = resolve));
        const slow = replica(registry, withSwapsLost(storage), { ttlMs: 1000 }).get(path);
        await until(() => registry.count("GET", image.layerDigest) === 1);
        await new Promise((resolve) => setTimeout(resolve, 1200)); // its lease has expired
        const taker = replica(registry, storage).get(path);
        await until(() => registry.count("GET", image.layerDigest) === 2);
        open();
        // Both clients get the verified bytes; the blob in the bucket is the taker's upload.
        assert.equal(await bodyDigest(await slow), image.layerDigest);
        assert.equal(await bodyDigest(await taker), image.layerDigest);
        await until(async () => !(await exists(storage, leaseKey(image.layerDigest))));
        const stored = await storage.read(cacheKeys.blob(image.layerDigest));
        assert.equal(sha256(await collectBytes(stored.body)), image.layerDigest);
      } finally {
        await bucket.empty();
      }
    },
  );

  test(
    "corrupt upstream bytes are committed by no replica and served whole by none",
    HEAVY,
    async () => {
      const bucket = await sharedBucket(2);
      try {
        const registry = new FakeRegistry();
        const image = registry.addImage("library/app", "v1", "the real layer");
        registry.corrupt.set(image.layerDigest, new TextEncoder().encode("the evil layer"));
        const [a, b] = bucket.storages.map((storage) => replica(registry, storage));
        const path = `/v2/fake.test/library/app/blobs/${image.layerDigest}`;
        const answers = await Promise.all([a!.get(path), b!.get(path)]);
        for (const answer of answers) {
          // Either an error status, or a body that fails before its last byte.
          if (answer.status === 200) await assert.rejects(answer.arrayBuffer());
          else assert.ok(answer.status >= 500);
        }
        assert.equal(await exists(bucket.storages[0]!, cacheKeys.blob(image.layerDigest)), false);
      } finally {
        await bucket.empty();
      }
    },
  );

  test(
    "a blob over the single-PUT cap goes up by multipart, fetched once by two replicas",
    HEAVY,
    async () => {
      const bucket = await sharedBucket(2);
      try {
        const registry = new FakeRegistry();
        const big = noise(70 * MIB, "big");
        const digest = registry.addBlob(big);
        const [a, b] = bucket.storages.map((storage) => replica(registry, storage));
        const path = `/v2/fake.test/library/app/blobs/${digest}`;
        const first = a!.get(path);
        await until(() => registry.count("GET", digest) === 1);
        const second = b!.get(path);
        assert.equal(await bodyDigest(await first), digest);
        assert.equal(await bodyDigest(await second), digest);
        assert.equal(registry.count("GET", digest), 1);
        const stat = await bucket.storages[0]!.stat(cacheKeys.blob(digest));
        assert.equal(stat.size, big.length);
        const stored = await bucket.storages[0]!.read(cacheKeys.blob(digest));
        assert.equal(sha256(await collectBytes(stored.body)), digest);
      } finally {
        await bucket.empty();
      }
    },
  );

  test("a tag one replica cached is answered by another within the TTL", HEAVY, async () => {
    const bucket = await sharedBucket(2);
    try {
      const registry = new FakeRegistry();
      const image = registry.addImage("library/app", "v1", "tagged");
      const [a, b] = bucket.storages.map((storage) => replica(registry, storage));
      const path = "/v2/fake.test/library/app/manifests/v1";
      const accept = "application/vnd.oci.image.manifest.v1+json";
      const ask = (r: Replica) =>
        r.app.request(`http://proxy.local${path}`, { headers: { accept } });
      const fromA = await ask(a!);
      assert.equal(fromA.headers.get("docker-content-digest"), image.digest);
      await fromA.arrayBuffer();
      await a!.app.idle();
      const upstreamAsks = registry.count("GET", "/manifests/");
      const fromB = await ask(b!);
      assert.equal(fromB.headers.get("docker-content-digest"), image.digest);
      assert.deepEqual(new Uint8Array(await fromB.arrayBuffer()), image.bytes);
      assert.equal(registry.count("GET", "/manifests/"), upstreamAsks);
    } finally {
      await bucket.empty();
    }
  });

  test(
    "two replicas evicting at once keep every entry a cached tag still references",
    HEAVY,
    async () => {
      const bucket = await sharedBucket(2);
      const [a, b] = bucket.storages as [S3Storage, S3Storage];
      try {
        // Blobs nothing refers to any more (their manifests went before), least recently used.
        const orphans: string[] = [];
        for (let i = 0; i < 6; i++) {
          const bytes = noise(64 * 1024, `orphan ${i}`);
          const key = cacheKeys.blob(sha256(bytes));
          await a.write(key, bytes);
          orphans.push(key);
        }
        await new Promise((resolve) => setTimeout(resolve, 1100)); // newer by the bucket's clock
        const registry = new FakeRegistry();
        const image = registry.addImage("library/app", "v1", "kept ".repeat(2000));
        const proxy = replica(registry, a);
        const tagged = await proxy.app.request(
          "http://proxy.local/v2/fake.test/library/app/manifests/v1",
          {
            headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
          },
        );
        assert.equal(tagged.status, 200, await tagged.clone().text());
        await tagged.arrayBuffer();
        for (const digest of [image.layerDigest, image.configDigest]) {
          await (await proxy.get(`/v2/fake.test/library/app/blobs/${digest}`)).arrayBuffer();
        }
        await proxy.app.idle();
        const kept: string[] = [];
        let keptBytes = 0;
        // Tag, manifest, layer and config (a blob's commit follows its client's last byte).
        await until(async () => {
          kept.length = 0;
          keptBytes = 0;
          for await (const stat of a.list("")) {
            if (orphans.includes(stat.path) || stat.path.startsWith("leases/")) continue;
            kept.push(stat.path);
            keptBytes += stat.size;
          }
          return kept.length === 4;
        });
        // Each replica lists the same cache and deletes what it thinks is over the limit: the
        // other's deletions must count as freed, not make it delete what the tag still holds.
        await Promise.all([a, b].map((storage) => evictCache(storage, { targetBytes: keptBytes })));
        for (const key of orphans) assert.equal(await exists(a, key), false, key);
        for (const key of kept) assert.equal(await exists(a, key), true, key);
      } finally {
        await bucket.empty();
      }
    },
  );
}
