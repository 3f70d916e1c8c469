import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HashMismatchError, LengthMismatchError, NotFoundError } from "../../../lib/errors.ts";
import { hashBytes } from "../../../lib/format/hash.ts";
import { publishComponent } from "../../../lib/writer/publish_component.ts";
import { createMirrorHandler } from "../../../lib/server/mirror_server.ts";
import { createPullThrough } from "../../../lib/server/pull_through/create_pull_through.ts";
import { TarballPuller } from "../../../lib/server/pull_through/tarball_puller.ts";
import { MemoryStorage } from "../../../lib/storage/memory_storage.ts";
import { collectBytes, readBytes } from "../../../lib/storage/read_bytes.ts";
import type { ReadOptions, StorageReader, StoredObject } from "../../../lib/storage/storage.ts";
import { day, helloPackage, makeMirror } from "../../_simulator.ts";

const NOW = day(1);
const TARBALL = "hello-v1.0.0-linux-amd64.tar.gz";
const INFO = { remoteAddress: "127.0.0.1" };

/** An upstream over a storage that counts reads, and can tamper with or lose files. */
class HostileUpstream implements StorageReader {
  readonly location = "http://upstream.test";
  readonly reads = new Map<string, number>();
  tamper = false;
  extraBytes = 0;
  gone = false;
  constructor(private readonly inner: StorageReader) {}
  stat(path: string) {
    return this.inner.stat(path);
  }
  async read(path: string, options?: ReadOptions): Promise<StoredObject> {
    if (this.gone) throw new TypeError("connection refused");
    this.reads.set(path, (this.reads.get(path) ?? 0) + 1);
    const bytes = await readBytes(this.inner, path);
    const served = new Uint8Array(bytes.length + this.extraBytes);
    served.set(bytes);
    if (this.tamper) served[0] = served[0]! ^ 1;
    // Small chunks, slowly: concurrent requests overlap the download.
    const chunks = Array.from(
      { length: Math.ceil(served.length / 4) },
      (_, i) => served.slice(i * 4, i * 4 + 4),
    );
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        const chunk = chunks.shift();
        if (chunk) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const stat = await this.inner.stat(path);
    void options;
    return { stat, body };
  }
}

/** An upstream mirror with hello v1.0.0, and a clone of its metadata without the tarball. */
async function rig(text = "hello bytes, 32 of them!!!!!") {
  const { storage: source, keys } = await makeMirror();
  await publishComponent(
    source,
    helloPackage({ tarball: tarballOf(text) }),
    {
      key: keys.alice,
      now: NOW,
    },
  );
  const local = new MemoryStorage("mem://clone");
  for await (const file of source.list("")) {
    if (file.path.endsWith(".tar.gz")) continue;
    await local.write(file.path, await readBytes(source, file.path));
  }
  const upstream = new HostileUpstream(source);
  const handler = createPullThrough(local, upstream, { now: () => NOW })(
    createMirrorHandler(local),
  );
  const get = (path: string, method = "GET") =>
    Promise.resolve(handler(new Request(`http://mirror.test/${path}`, { method }), INFO));
  return { source, local, upstream, get };
}

async function hashOf(storage: StorageReader, path: string) {
  return hashBytes(await readBytes(storage, path));
}

function tarballOf(text: string) {
  const bytes = new TextEncoder().encode(text);
  return { ...hashBytes(bytes), length: bytes.length, open: () => new Blob([bytes]).stream() };
}

describe("createPullThrough()", () => {
  it("fetches a listed, missing tarball once for twenty concurrent requests, and keeps it", async () => {
    const { source, local, upstream, get } = await rig();
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(TARBALL)));
    const expected = await readBytes(source, TARBALL);
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.deepEqual(await collectBytes(answer.body!), expected);
    }
    assert.equal(upstream.reads.get(TARBALL), 1);
    assert.deepEqual(await readBytes(local, TARBALL), expected);
    assert.equal((await get(TARBALL)).status, 200);
    assert.equal(upstream.reads.get(TARBALL), 1);
  });

  it("refuses a tampered upstream tarball: the stream fails, nothing is kept", async () => {
    const { local, upstream, get } = await rig();
    upstream.tamper = true;
    const answer = await get(TARBALL);
    await assert.rejects(collectBytes(answer.body!), HashMismatchError);
    await assert.rejects(local.stat(TARBALL), NotFoundError);
  });

  it("cuts off an upstream tarball longer than its signed length and keeps nothing", async () => {
    const { local, upstream, get } = await rig();
    upstream.extraBytes = 1000;
    const answer = await get(TARBALL);
    await assert.rejects(collectBytes(answer.body!), LengthMismatchError);
    await assert.rejects(local.stat(TARBALL), NotFoundError);
  });

  it("never asks the upstream for a path the clone's manifests do not list", async () => {
    const { upstream, get } = await rig();
    assert.equal((await get("other-v1.0.0-linux-amd64.tar.gz")).status, 404);
    assert.equal((await get("keys/secret.tar.gz")).status, 404);
    assert.equal(upstream.reads.size, 0);
  });

  it("answers HEAD from the manifest without fetching", async () => {
    const { upstream, get } = await rig();
    const answer = await get(TARBALL, "HEAD");
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("content-length"), "28");
    assert.equal(upstream.reads.size, 0);
  });

  it("does not let a first client that stops reading hold back the others (slow loris)", async () => {
    // 100 chunks of 4 bytes: more than the first client's queue holds.
    const { source, local, upstream } = await rig("x".repeat(400));
    const puller = new TarballPuller(local, upstream, { clientStallMs: 50 });
    const expected = { length: 400, sha256: (await hashOf(source, TARBALL)).sha256 };
    const first = await puller.pull(TARBALL, expected);
    assert.ok(first.body, "the first request streams");
    // It never reads its body; a second request waits for the file all the same.
    const second = await puller.pull(TARBALL, expected);
    await second.kept;
    assert.deepEqual(await readBytes(local, TARBALL), await readBytes(source, TARBALL));
    await first.body.cancel().catch(() => {});
  });

  it("answers 502 for a missing tarball when the upstream is gone, and serves what it kept", async () => {
    const { upstream, get } = await rig();
    await collectBytes((await get(TARBALL)).body!);
    upstream.gone = true;
    assert.equal((await get(TARBALL)).status, 200);
    const { local } = await rig();
    const offline = new HostileUpstream(local);
    offline.gone = true;
    const puller = new TarballPuller(new MemoryStorage(), offline);
    await assert.rejects(
      puller.pull(TARBALL, { length: 1, sha256: "0".repeat(64) }),
      TypeError,
    );
  });
});
