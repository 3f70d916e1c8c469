/**
 * Cold blobs through the proxy from a real HTTP upstream (node:http on loopback) into a
 * LocalStorage cache: on Bun, a blob of up to FILE_FIRST_MAX_BYTES is copied by the runtime into
 * the cache file, hashed there and served from the cache once committed; elsewhere, and above
 * that size, it is teed through streams. Either way a client gets exactly the upstream's
 * verified bytes, and a tampered, truncated or stalled body is never cached and leaves no
 * temporary file behind.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { canWriteBodyToFile } from "../../lib/runtime.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { FILE_FIRST_MAX_BYTES } from "../../proxy/blob_fetcher.ts";
import { cacheKeys } from "../../proxy/cache_keys.ts";
import { createRegistryProxy } from "../../proxy/create_registry_proxy.ts";
import { defaultProxyConfig, type ProxyConfig } from "../../proxy/proxy_config.ts";

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A pattern that differs at every offset, so a misplaced or zeroed stretch changes the hash. */
function blobBytes(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return bytes;
}

/** A proxy over a LocalStorage cache, reaching `handler` over real sockets. */
async function withProxy(
  handler: Handler,
  run: (proxy: {
    get: (digest: string) => Promise<Response>;
    cached: (digest: string) => Promise<Uint8Array | undefined>;
    leftovers: () => Promise<string[]>;
    requests: () => number;
  }) => Promise<void>,
  configure: (config: ProxyConfig) => void = () => {},
): Promise<void> {
  let requests = 0;
  const sockets = new Set<import("node:net").Socket>();
  const server = createServer((request, response) => {
    requests++;
    handler(request, response);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const dir = await mkdtemp(join(tmpdir(), "ferry-file-first-"));
  const config = defaultProxyConfig();
  config.registries["up.test"] = { name: "up.test", url: `http://127.0.0.1:${port}` };
  config.upstream.retries = 0;
  config.upstream.timeoutMs = 600;
  configure(config);
  const app = createRegistryProxy(config, {
    fetch: globalThis.fetch,
    storage: new LocalStorage(dir),
  });
  const walk = async (folder: string): Promise<string[]> => {
    const found: string[] = [];
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) found.push(...await walk(path));
      else found.push(path);
    }
    return found;
  };
  try {
    await run({
      get: async (digest) =>
        await app.request(`http://proxy.local/v2/up.test/lib/app/blobs/${digest}`),
      cached: async (digest) => {
        try {
          return new Uint8Array(await readFile(join(dir, cacheKeys.blob(digest))));
        } catch {
          return undefined;
        }
      },
      // A failed download's temporary file goes once its write has unwound, which on the
      // stream path may be just after the client saw the failure: given two seconds.
      leftovers: async () => {
        await app.idle();
        const temporary = async () =>
          (await walk(join(dir, "blobs"))).filter((path) => !/\/[0-9a-f]{64}$/.test(path));
        for (let i = 0; i < 40 && (await temporary()).length > 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return await temporary();
      },
      requests: () => requests,
    });
  } finally {
    await app.idle();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  }
}

type Proxy = Parameters<Parameters<typeof withProxy>[1]>[0];

/** The digest of the cached blob, if there is one. */
async function cachedDigest(proxy: Proxy, digest: string): Promise<string | undefined> {
  const bytes = await proxy.cached(digest);
  return bytes && digestOf(bytes);
}

/**
 * The cached blob's digest once it is committed: a streamed blob's commit (a sync and a rename)
 * may come just after the client's last byte.
 */
async function committedDigest(proxy: Proxy, digest: string): Promise<string | undefined> {
  for (let i = 0; i < 100 && !await proxy.cached(digest); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return await cachedDigest(proxy, digest);
}

/** Answers with `bytes` (announcing `announced` bytes), in two halves `pauseMs` apart. */
function sendInHalves(bytes: Uint8Array, pauseMs: number, announced = bytes.length): Handler {
  return (_request, response) => {
    response.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": String(announced),
    });
    const half = Math.floor(bytes.length / 2);
    response.write(bytes.subarray(0, half));
    setTimeout(() => {
      if (announced === bytes.length) response.end(bytes.subarray(half));
      else response.write(bytes.subarray(half), () => response.socket?.destroy());
    }, pauseMs);
  };
}

/** The body's bytes, or the error reading it ended with. */
async function readAll(response: Response): Promise<Uint8Array | Error> {
  try {
    return await collectBytes(response.body!);
  } catch (error) {
    return error as Error;
  }
}

test("a cold blob arrives whole and verified, and is cached (on Bun: after it is committed)", async () => {
  const bytes = blobBytes(3 * 1024 * 1024 + 5, 1);
  const digest = digestOf(bytes);
  await withProxy(sendInHalves(bytes, 300), async (proxy) => {
    const response = await proxy.get(digest);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("docker-content-digest"), digest);
    if (canWriteBodyToFile()) {
      // Served from the cache: the answer came only after the verified file was in place.
      assert.equal(await cachedDigest(proxy, digest), digest);
    }
    const body = await readAll(response);
    assert.ok(body instanceof Uint8Array, `the body failed: ${(body as Error).message}`);
    assert.equal(digestOf(body), digest);
    assert.equal(await committedDigest(proxy, digest), digest);
    assert.deepEqual(await proxy.leftovers(), []);
    // Warm now: no second upstream request.
    const warm = await readAll(await proxy.get(digest));
    assert.ok(warm instanceof Uint8Array);
    assert.equal(digestOf(warm), digest);
    assert.equal(proxy.requests(), 1);
  });
});

test("two clients asking at once share one upstream download and both get the blob", async () => {
  const bytes = blobBytes(2 * 1024 * 1024, 2);
  const digest = digestOf(bytes);
  await withProxy(sendInHalves(bytes, 200), async (proxy) => {
    const answers = await Promise.all([proxy.get(digest), proxy.get(digest)]);
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      const body = await readAll(answer);
      assert.ok(body instanceof Uint8Array, `the body failed: ${(body as Error).message}`);
      assert.equal(digestOf(body), digest);
    }
    assert.equal(proxy.requests(), 1);
  });
});

for (
  const [name, make] of [
    [
      "other bytes of the same length",
      (bytes: Uint8Array) => {
        const tampered = bytes.slice();
        tampered[tampered.length - 10]! ^= 1;
        return sendInHalves(tampered, 50);
      },
    ],
    [
      "a body that breaks off before its Content-Length",
      (bytes: Uint8Array) => sendInHalves(bytes.subarray(0, bytes.length - 4096), 50, bytes.length),
    ],
    [
      "a body that stalls for longer than the upstream timeout",
      (bytes: Uint8Array) => sendInHalves(bytes, 2500),
    ],
  ] as const
) {
  test(`a cold blob with ${name} never reaches a client whole and is not cached`, async () => {
    const bytes = blobBytes(1024 * 1024 + 17, 3);
    const digest = digestOf(bytes);
    await withProxy(make(bytes), async (proxy) => {
      const response = await proxy.get(digest);
      if (response.status === 200) {
        const body = await readAll(response);
        assert.ok(body instanceof Error, "the stream must fail before its last byte");
      } else {
        assert.ok(response.status >= 500, `status ${response.status}`);
        await response.body?.cancel();
      }
      assert.equal(await proxy.cached(digest), undefined);
      assert.deepEqual(await proxy.leftovers(), []);
    });
  });
}

test("a blob above FILE_FIRST_MAX_BYTES streams to the client before it is committed", async () => {
  const bytes = blobBytes(FILE_FIRST_MAX_BYTES + 1, 4);
  const digest = digestOf(bytes);
  await withProxy(sendInHalves(bytes, 400), async (proxy) => {
    const response = await proxy.get(digest);
    assert.equal(response.status, 200);
    // The answer came while the second half was still held back upstream.
    assert.equal(await proxy.cached(digest), undefined);
    const body = await readAll(response);
    assert.ok(body instanceof Uint8Array, `the body failed: ${(body as Error).message}`);
    assert.equal(body.length, bytes.length);
    assert.equal(digestOf(body), digest);
    assert.equal(await committedDigest(proxy, digest), digest);
    assert.deepEqual(await proxy.leftovers(), []);
  });
});

test("two cold blobs that together pass the cache's size limit: one is cut off, one arrives", async () => {
  const blobs = [blobBytes(2 * 1024 * 1024, 5), blobBytes(2 * 1024 * 1024, 6)];
  const byDigest = new Map(blobs.map((bytes) => [digestOf(bytes), bytes]));
  const handler: Handler = (request, response) => {
    const bytes = byDigest.get(request.url!.split("/").at(-1)!)!;
    sendInHalves(bytes, 200)(request, response);
  };
  await withProxy(handler, async (proxy) => {
    const digests = [...byDigest.keys()];
    const answers = await Promise.all(digests.map((digest) => proxy.get(digest)));
    const outcomes = await Promise.all(answers.map(async (answer, i) => {
      if (answer.status !== 200) {
        await answer.body?.cancel();
        return "refused";
      }
      const body = await readAll(answer);
      if (body instanceof Error) return "refused";
      assert.equal(digestOf(body), digests[i]);
      return "whole";
    }));
    assert.deepEqual([...outcomes].sort(), ["refused", "whole"]);
    const whole = digests[outcomes.indexOf("whole")]!;
    const refused = digests[outcomes.indexOf("refused")]!;
    assert.equal(await committedDigest(proxy, whole), whole);
    assert.equal(await cachedDigest(proxy, refused), undefined);
    assert.deepEqual(await proxy.leftovers(), []);
  }, (config) => {
    config.cache.maxBytes = 3 * 1024 * 1024;
  });
});
