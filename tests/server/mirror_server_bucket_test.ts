/**
 * The mirror server over a shared bucket, the way N replicas run it: no change notifications,
 * no synchronous stat, an ETag from the store. What it keeps in memory is revalidated once per
 * interval with one request for all clients, a replica never serves a timestamp newer than the
 * snapshot it answers with, and `redirectLarge` sends large GETs to presigned URLs. The bucket
 * here is memory with the S3 backend's shape (tests/storage runs S3Storage itself against Ceph).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { DownloadError } from "../../lib/errors.ts";
import { createMirrorServer, type MirrorServerOptions } from "../../lib/server/mirror_server.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import type {
  FileStat,
  PresignStorage,
  ReadOptions,
  StorageReader,
  StoredObject,
} from "../../lib/storage/storage.ts";

const INTERVAL = 2000;

/** Memory with S3's shape: ETags, no statSync, presigned URLs; counts every request. */
class FakeBucket implements StorageReader, PresignStorage {
  readonly location = "s3://bucket/mirror";
  readonly memory = new MemoryStorage();
  readonly calls = { stat: 0, read: 0 };
  /** When set, every request fails as an unreachable endpoint does. */
  down = false;
  /** Called before a read is answered (a writer replacing the object meanwhile). */
  beforeRead?: (path: string) => Promise<void>;

  async put(path: string, text: string): Promise<void> {
    await this.memory.write(path, text);
  }

  async stat(path: string): Promise<FileStat> {
    this.calls.stat++;
    if (this.down) throw new DownloadError(`Cannot stat "${path}": connection refused`);
    return this.#tagged(await this.memory.stat(path), await this.#bytes(path));
  }

  async read(path: string, options: ReadOptions = {}): Promise<StoredObject> {
    this.calls.read++;
    if (this.down) throw new DownloadError(`Cannot read "${path}": connection refused`);
    await this.beforeRead?.(path);
    const object = await this.memory.read(path, options);
    return { ...object, stat: this.#tagged(object.stat, await this.#bytes(path)) };
  }

  presignGet(path: string, options: { expiresInSeconds: number }): Promise<string> {
    return Promise.resolve(
      `http://store.invalid/bucket/mirror/${path}?X-Amz-Expires=${options.expiresInSeconds}`,
    );
  }

  async #bytes(path: string): Promise<Uint8Array> {
    const object = await this.memory.read(path);
    return new Uint8Array(await new Response(object.body).arrayBuffer());
  }

  #tagged(stat: FileStat, bytes: Uint8Array): FileStat {
    const etag = `"${createHash("md5").update(bytes).digest("hex")}"`;
    return { ...stat, identity: etag, etag };
  }
}

async function bucketWith(files: Record<string, string>): Promise<FakeBucket> {
  const bucket = new FakeBucket();
  for (const [path, text] of Object.entries(files)) await bucket.put(path, text);
  return bucket;
}

function server(bucket: FakeBucket, clock: { now: number }, options: MirrorServerOptions = {}) {
  return createMirrorServer(bucket, {
    revalidateMs: INTERVAL,
    clock: () => clock.now,
    pages: false,
    ...options,
  });
}

const snapshot = (version: number) => `{"signed":{"_type":"snapshot","version":${version}}}`;
const timestamp = (version: number) => `{"signed":{"_type":"timestamp","snapshot":${version}}}`;

test("createMirrorServer() over a bucket revalidates a kept file with one stat for 50 concurrent requests", async () => {
  const bucket = await bucketWith({ "timestamp.json": timestamp(1) });
  const clock = { now: 10_000 };
  const app = server(bucket, clock);
  assert.equal((await app.request("/timestamp.json")).status, 200);
  const stats = bucket.calls.stat;
  // Within the interval: memory only.
  for (let i = 0; i < 10; i++) await (await app.request("/timestamp.json")).arrayBuffer();
  assert.equal(bucket.calls.stat, stats);
  clock.now += INTERVAL;
  const answers = await Promise.all(
    Array.from({ length: 50 }, () => app.request("/timestamp.json")),
  );
  for (const answer of answers) assert.equal(await answer.text(), timestamp(1));
  assert.equal(bucket.calls.stat, stats + 1);
});

test("createMirrorServer() over a bucket reads a small file once for 50 concurrent first requests", async () => {
  const bucket = await bucketWith({ "1.index.json": '{"signed":{"_type":"index"}}' });
  const app = server(bucket, { now: 0 });
  const answers = await Promise.all(Array.from({ length: 50 }, () => app.request("/1.index.json")));
  for (const answer of answers) assert.equal(await answer.text(), '{"signed":{"_type":"index"}}');
  assert.equal(bucket.calls.read, 1);
});

test("createMirrorServer() over a bucket sees a publish on the first request after the interval", async () => {
  const bucket = await bucketWith({ "snapshot.json": snapshot(1), "timestamp.json": timestamp(1) });
  const clock = { now: 0 };
  const app = server(bucket, clock);
  await (await app.request("/timestamp.json")).text();
  await (await app.request("/snapshot.json")).text();
  await bucket.put("snapshot.json", snapshot(2));
  await bucket.put("timestamp.json", timestamp(2));
  clock.now += INTERVAL;
  assert.equal(await (await app.request("/timestamp.json")).text(), timestamp(2));
  assert.equal(await (await app.request("/snapshot.json")).text(), snapshot(2));
});

test("createMirrorServer() over a bucket never serves a new timestamp with the older snapshot it kept (half-written mirror)", async () => {
  const bucket = await bucketWith({ "snapshot.json": snapshot(1), "timestamp.json": timestamp(1) });
  const clock = { now: 0 };
  const app = server(bucket, clock);
  // This replica keeps the snapshot, but not the timestamp (another client asked only for it).
  assert.equal(await (await app.request("/snapshot.json")).text(), snapshot(1));
  // A writer elsewhere commits in order: snapshot, then timestamp.
  await bucket.put("snapshot.json", snapshot(2));
  await bucket.put("timestamp.json", timestamp(2));
  // Within the same interval a client asks for the timestamp (read now: version 2), then the
  // snapshot it names: the snapshot kept from before must not be served with it.
  assert.equal(await (await app.request("/timestamp.json")).text(), timestamp(2));
  assert.equal(await (await app.request("/snapshot.json")).text(), snapshot(2));
});

test("createMirrorServer() over a bucket answers 404 for a kept file deleted underneath, after the interval", async () => {
  const bucket = await bucketWith({ "1.index.json": "{}", "timestamp.json": timestamp(1) });
  const clock = { now: 0 };
  const app = server(bucket, clock);
  assert.equal((await app.request("/1.index.json")).status, 200);
  await bucket.memory.delete("1.index.json");
  clock.now += INTERVAL;
  assert.equal((await app.request("/1.index.json")).status, 404);
  assert.equal((await app.request("/timestamp.json")).status, 200);
});

test("createMirrorServer() over a bucket answers with the store's ETag, 304 for it, and Range from memory", async () => {
  const bucket = await bucketWith({ "timestamp.json": timestamp(1) });
  const app = server(bucket, { now: 0 });
  const first = await app.request("/timestamp.json");
  await first.arrayBuffer();
  const etag = first.headers.get("etag");
  assert.equal(etag, `"${createHash("md5").update(timestamp(1)).digest("hex")}"`);
  assert.equal(first.headers.get("cache-control"), "no-cache");
  assert.ok(first.headers.get("last-modified"));
  const again = await app.request("/timestamp.json", { headers: { "if-none-match": etag! } });
  assert.equal(again.status, 304);
  const part = await app.request("/timestamp.json", { headers: { range: "bytes=0-9" } });
  assert.equal(part.status, 206);
  assert.equal(await part.text(), timestamp(1).slice(0, 10));
});

test("createMirrorServer() over a bucket never serves keys/, the lease or dotfiles", async () => {
  const bucket = await bucketWith({
    "keys/abc-timestamp.json": "PRIVATE",
    "lock": '{"holder":"x"}',
    ".ferry-uploads/a": "x",
  });
  const app = server(bucket, { now: 0 });
  for (
    const path of [
      "/keys/abc-timestamp.json",
      "/keys%2Fabc-timestamp.json",
      "/lock",
      "/.ferry-uploads/a",
    ]
  ) {
    const answer = await app.request(path);
    assert.equal(answer.status, 404, path);
    assert.doesNotMatch(await answer.text(), /PRIVATE/);
  }
  assert.equal(bucket.calls.read, 0);
});

test("createMirrorServer() over a bucket answers 503 when the store cannot be reached", async () => {
  const bucket = await bucketWith({ "timestamp.json": timestamp(1) });
  bucket.down = true;
  const answer = await server(bucket, { now: 0 }).request("/timestamp.json");
  assert.equal(answer.status, 503);
  assert.equal(answer.headers.get("retry-after"), "1");
});

const LARGE = "x".repeat(5000);

test("createMirrorServer() over a bucket never streams a large file replaced after its stat with the old headers", async () => {
  const bucket = await bucketWith({ "big.tar.gz": "a".repeat(300_000) });
  let replaced = false;
  bucket.beforeRead = async (path) => {
    if (replaced) return;
    replaced = true;
    await bucket.put(path, "b".repeat(400_000));
  };
  const answer = await server(bucket, { now: 0 }).request("/big.tar.gz");
  const body = await answer.text();
  assert.equal(answer.headers.get("content-length"), String(body.length));
  assert.equal(body, "b".repeat(400_000));
});

test("createMirrorServer() with redirectLarge answers a large GET with a 307 to a presigned URL", async () => {
  const bucket = await bucketWith({ "tidb-v1.0.0-linux-amd64.tar.gz": LARGE, "small.json": "{}" });
  const app = server(bucket, { now: 0 }, {
    redirectLarge: { minBytes: 4096, expiresInSeconds: 60 },
  });
  const path = "/tidb-v1.0.0-linux-amd64.tar.gz";
  const get = await app.request(path);
  assert.equal(get.status, 307);
  assert.equal(
    get.headers.get("location"),
    "http://store.invalid/bucket/mirror/tidb-v1.0.0-linux-amd64.tar.gz?X-Amz-Expires=60",
  );
  assert.equal(get.headers.get("cache-control"), "no-store");
  // A Range is resent by the client to the URL: still a redirect.
  assert.equal((await app.request(path, { headers: { range: "bytes=0-9" } })).status, 307);
  assert.equal(bucket.calls.read, 0, "no byte of a redirected file passes through the server");
  // HEAD, 304 and 416 are answered here, with the same headers as a 200.
  const head = await app.request(path, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(LARGE.length));
  assert.equal(head.headers.get("location"), null);
  const etag = head.headers.get("etag")!;
  assert.equal((await app.request(path, { headers: { "if-none-match": etag } })).status, 304);
  assert.equal((await app.request(path, { headers: { range: "bytes=9999-" } })).status, 416);
  // Files below the threshold are served as always.
  const small = await app.request("/small.json");
  assert.equal(small.status, 200);
  assert.equal(await small.text(), "{}");
});

test("createMirrorServer() with redirectLarge never keeps a file it redirects, whatever the memory limit", async () => {
  const bucket = await bucketWith({ "a.tar.gz": LARGE });
  const app = server(bucket, { now: 0 }, {
    redirectLarge: { minBytes: 1000 },
    memoryCacheFileBytes: 1024 * 1024,
  });
  assert.equal((await app.request("/a.tar.gz")).status, 307);
  assert.equal((await app.request("/a.tar.gz")).status, 307);
});

test("createMirrorServer() refuses redirectLarge over a storage that cannot presign", () => {
  assert.throws(
    () => createMirrorServer(new MemoryStorage(), { redirectLarge: { minBytes: 1 } }),
    (error) => error instanceof TypeError && /cannot presign/.test(error.message),
  );
});
