import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  DownloadError,
  HttpStatusError,
  NotFoundError,
  PathError,
  StorageError,
  TooLargeError,
} from "../../lib/errors.ts";
import { createMirrorServer } from "../../lib/server/mirror_server.ts";
import { type FetchFn, HttpStorage } from "../../lib/storage/http_storage.ts";
import { LocalStorage, TEMP_PREFIX } from "../../lib/storage/local_storage.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { canList, type ListableStorage, type Storage } from "../../lib/storage/storage.ts";
import { defineStorageConformanceTests, patternBytes, streamOf } from "./_conformance.ts";
import { startHostileServer } from "./_hostile_server.ts";

const BASE = "http://mirror.test/ferry";

defineStorageConformanceTests(
  "HttpStorage",
  async () => {
    // The real mirror server, in-process: HttpStorage's fetch goes straight to app.fetch.
    const root = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-http-"));
    const backing = new LocalStorage(root);
    const app = createMirrorServer(backing);
    const reader = new HttpStorage(BASE, {
      fetch: (request) => Promise.resolve(app.fetch(rebase(request))),
      retries: 0,
    });
    return {
      reader,
      seed: async (path, data) => void (await backing.write(path, data)),
      leaveKilledWrite: async (path, partial) => {
        const dir = nodePath.dirname(nodePath.join(root, path));
        await fs.mkdir(dir, { recursive: true });
        const name = `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`;
        await fs.writeFile(nodePath.join(dir, name), partial);
        // Also ask for the temp file by its own name: the server must not serve it either.
        const slash = path.lastIndexOf("/");
        const tempKey = slash === -1 ? name : `${path.slice(0, slash)}/${name}`;
        await assert.rejects(reader.stat(tempKey), NotFoundError);
      },
      close: () => fs.rm(root, { recursive: true, force: true }),
    };
  },
  { canList: false, writable: false, tempFiles: true },
);

/** The server is mounted at "/": strip the "/ferry" base path the storage was given. */
function rebase(request: Request): Request {
  const url = new URL(request.url);
  url.pathname = url.pathname.replace(/^\/ferry/, "");
  return new Request(url, request);
}

/** A scripted server: answers request n with responses[n] (the last one repeats). */
function scripted(responses: Array<() => Response | Promise<Response>>) {
  const seen: Request[] = [];
  const fetch: FetchFn = (request) => {
    seen.push(request);
    const answer = responses[Math.min(seen.length - 1, responses.length - 1)]!;
    return Promise.resolve(answer());
  };
  return { fetch, seen };
}

function storageWith(fetch: FetchFn, options = {}) {
  return new HttpStorage(BASE, { fetch, retries: 3, retryDelayMs: 1, ...options });
}

test("HttpStorage: the type system refuses it where a writable Storage is needed", () => {
  const reader = storageWith(scripted([() => new Response("x")]).fetch);
  // @ts-expect-error HttpStorage implements only StorageReader: it has no delete().
  const writable: Storage = reader;
  assert.equal(typeof (writable as Partial<Storage>).delete, "undefined");
  // @ts-expect-error HttpStorage has no write(): writers cannot be handed an HTTP mirror.
  const writer: Pick<Storage, "write"> = reader;
  assert.equal(typeof (writer as Partial<Storage>).write, "undefined");
  // @ts-expect-error HttpStorage cannot list: an HTTP mirror has no index of its files.
  const listable: ListableStorage = reader;
  assert.equal(canList(reader), false);
  assert.equal(typeof listable.list, "undefined");
});

test("HttpStorage: 404 and 410 become NotFoundError without retrying", async () => {
  for (const status of [404, 410]) {
    const server = scripted([() => new Response("gone", { status })]);
    const error = await storageWith(server.fetch).read("1.root.json").catch((e) => e);
    assert.ok(error instanceof NotFoundError, String(error));
    assert.equal(error.path, "1.root.json");
    assert.equal(server.seen.length, 1);
  }
});

test("HttpStorage: retries a 503 and succeeds when the server recovers", async () => {
  const server = scripted([
    () => new Response("busy", { status: 503 }),
    () => new Response("busy", { status: 503 }),
    () => new Response("{}", { headers: { "content-length": "2" } }),
  ]);
  const object = await storageWith(server.fetch).read("timestamp.json");
  assert.equal(new TextDecoder().decode(await collectBytes(object.body)), "{}");
  assert.equal(server.seen.length, 3);
});

test("HttpStorage: retries a network error and succeeds when the server recovers", async () => {
  let calls = 0;
  const fetch: FetchFn = () => {
    calls++;
    if (calls === 1) return Promise.reject(new TypeError("connection reset"));
    return Promise.resolve(new Response("ok"));
  };
  const object = await storageWith(fetch).read("a.json");
  assert.equal(new TextDecoder().decode(await collectBytes(object.body)), "ok");
  assert.equal(calls, 2);
});

test("HttpStorage: gives up after the retry budget with the last status", async () => {
  const server = scripted([() => new Response("busy", { status: 503 })]);
  const error = await storageWith(server.fetch, { retries: 2 }).read("a.json").catch((e) => e);
  assert.ok(error instanceof HttpStatusError, String(error));
  assert.equal(error.status, 503);
  assert.equal(server.seen.length, 3);
  assert.match(error.message, /503/);
});

test("HttpStorage: does not retry a 403", async () => {
  const server = scripted([() => new Response("no", { status: 403 })]);
  const error = await storageWith(server.fetch).read("keys/x.json").catch((e) => e);
  assert.ok(error instanceof HttpStatusError, String(error));
  assert.ok(error instanceof DownloadError);
  assert.equal(error.status, 403);
  assert.equal(server.seen.length, 1);
});

test("HttpStorage: a body shorter than its Content-Length is a DownloadError", async () => {
  const server = scripted([
    () => new Response(streamOf([patternBytes(50)]), { headers: { "content-length": "100" } }),
  ]);
  const object = await storageWith(server.fetch).read("tarball.tar.gz");
  const error = await collectBytes(object.body).catch((e) => e);
  assert.ok(error instanceof DownloadError, String(error));
  assert.match(error.message, /50 of 100 bytes/);
});

test("HttpStorage: a Content-Length over the cap is refused before the body is read", async () => {
  let pulled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled = true;
      controller.enqueue(patternBytes(10));
    },
  }, { highWaterMark: 0 });
  const server = scripted([() => new Response(body, { headers: { "content-length": "1000" } })]);
  await assert.rejects(storageWith(server.fetch).read("big", { maxBytes: 999 }), TooLargeError);
  assert.equal(pulled, false);
});

test("HttpStorage: endless data without a Content-Length stops at the cap", async () => {
  let sent = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      sent += 1024;
      controller.enqueue(patternBytes(1024));
    },
  });
  const server = scripted([() => new Response(endless)]);
  const object = await storageWith(server.fetch).read("1.index.json", { maxBytes: 10_000 });
  const error = await collectBytes(object.body).catch((e) => e);
  assert.ok(error instanceof TooLargeError, String(error));
  assert.equal(error.limit, 10_000);
  assert.ok(sent < 100_000, `read ${sent} bytes past a 10000-byte cap`);
});

test("HttpStorage: maxBytesPerRead caps reads that give no cap of their own", async () => {
  const server = scripted([() => new Response(streamOf([patternBytes(600), patternBytes(600)]))]);
  const storage = storageWith(server.fetch, { maxBytesPerRead: 1000 });
  const object = await storage.read("x");
  await assert.rejects(collectBytes(object.body), TooLargeError);
});

test("HttpStorage: a server that never answers times out with a DownloadError", async () => {
  // The request's signal is the only way out: this handler answers nothing until aborted.
  const hang: FetchFn = (request) =>
    new Promise((_, reject) => {
      request.signal.addEventListener("abort", () => reject(request.signal.reason));
    });
  const storage = storageWith(hang, { headersTimeoutMs: 50, retries: 1 });
  const error = await storage.read("timestamp.json").catch((e) => e);
  assert.ok(error instanceof DownloadError, String(error));
  assert.match(error.message, /no answer within/);
});

test("HttpStorage: a body that stalls is a DownloadError", async () => {
  const stalled = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(patternBytes(10));
    },
  });
  const server = scripted([() => new Response(stalled)]);
  const object = await storageWith(server.fetch, { idleTimeoutMs: 50 }).read("x");
  const error = await collectBytes(object.body).catch((e) => e);
  assert.ok(error instanceof DownloadError, String(error));
  assert.match(error.message, /stalled/);
});

test("HttpStorage: a server that ignores Range is refused, not misread", async () => {
  const server = scripted([() => new Response(patternBytes(100))]);
  const error = await storageWith(server.fetch).read("x", { range: { start: 10, end: 19 } })
    .catch((e) => e);
  assert.ok(error instanceof DownloadError, String(error));
  assert.equal(server.seen[0]?.headers.get("range"), "bytes=10-19");
});

test("HttpStorage: stat() without a Content-Length is a StorageError", async () => {
  // A streamed body, so that neither runtime fills in a Content-Length by itself.
  const server = scripted([() => new Response(streamOf([]), { status: 200 })]);
  const error = await storageWith(server.fetch).stat("x").catch((e) => e);
  assert.ok(error instanceof StorageError, String(error));
  assert.equal(server.seen[0]?.method, "HEAD");
});

test("HttpStorage: percent-encodes each path segment in the URL", async () => {
  const server = scripted([() => new Response("")]);
  const storage = storageWith(server.fetch);
  assert.equal(storage.urlFor("a b/c#d?e.json"), `${BASE}/a%20b/c%23d%3Fe.json`);
  await storage.read("a b/c%2e.json");
  assert.equal(server.seen[0]?.url, `${BASE}/a%20b/c%252e.json`);
});

test("HttpStorage: a hostile path never reaches the network", async () => {
  const server = scripted([() => new Response("")]);
  const storage = storageWith(server.fetch);
  for (const path of ["../etc/passwd", "/etc/passwd", "a\\b", "a\0b"]) {
    await assert.rejects(storage.read(path), PathError);
  }
  assert.equal(server.seen.length, 0);
});

test("HttpStorage: only http and https URLs are accepted", () => {
  assert.throws(() => new HttpStorage("file:///etc"), TypeError);
  assert.throws(() => new HttpStorage("ftp://mirror"), TypeError);
  assert.equal(new HttpStorage("https://m.example/a/?x#y").location, "https://m.example/a");
});

test("HttpStorage reads a gzip-coded answer whole, sized by what is read, not by the header", async () => {
  const bytes = new TextEncoder().encode(JSON.stringify({ signed: "x".repeat(5000) }));
  const packed = gzipSync(bytes);
  const server = await startHostileServer({
    "/timestamp.json": (_q, response) => {
      response.writeHead(200, {
        "content-encoding": "gzip",
        "content-length": String(packed.length),
      });
      response.end(packed);
    },
  });
  try {
    const storage = new HttpStorage(server.url, { retries: 0 });
    const object = await storage.read("timestamp.json", { maxBytes: 64 * 1024 });
    assert.equal(object.stat.size, -1, "the coded length is not the body's");
    assert.deepEqual(await collectBytes(object.body), bytes);
  } finally {
    await server.close();
  }
});
