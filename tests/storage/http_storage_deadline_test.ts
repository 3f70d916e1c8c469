/**
 * HttpStorage against servers that answer too slowly or not at all (issue 8, item 20): every
 * download has an overall deadline from its size cap and a minimum rate, and a silent server is
 * not asked again and again. Limits are shrunk through the options so the tests take a second.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DownloadError, TooLargeError } from "../../lib/errors.ts";
import { HttpStorage } from "../../lib/storage/http_storage.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { type HostileServer, startHostileServer } from "./_hostile_server.ts";

const FAST_LIMITS = {
  headersTimeoutMs: 500,
  idleTimeoutMs: 3_000,
  minBytesPerSecond: 1024,
  deadlineAllowanceMs: 300,
  retries: 3,
  retryDelayMs: 10,
};

async function withServer(
  routes: Parameters<typeof startHostileServer>[0],
  body: (server: HostileServer) => Promise<void>,
): Promise<void> {
  const server = await startHostileServer(routes);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

test(
  "HttpStorage refuses a slow drip (1 byte per 50 ms on a 1 KiB timestamp) at its deadline",
  { timeout: 8_000 },
  () => {
    let drip: HostileServer | undefined;
    return withServer({
      "/timestamp.json": (_request, response) => {
        response.writeHead(200, { "content-type": "application/json" });
        // Never idle long enough for the idle timer: only an overall deadline stops this.
        drip!.every(50, () => response.write("{"));
      },
    }, async (server) => {
      drip = server;
      const storage = new HttpStorage(server.url, FAST_LIMITS);
      const object = await storage.read("timestamp.json", { maxBytes: 1024 });
      await assert.rejects(
        collectBytes(object.body as ReadableStream<Uint8Array>, { maxBytes: 1024 }),
        (error) =>
          error instanceof DownloadError && !(error instanceof TooLargeError) &&
          /slower than the 1024 bytes\/s allowed/.test(error.message),
      );
    });
  },
);

test(
  "HttpStorage gives a silent server one headers timeout, not one per retry",
  { timeout: 8_000 },
  () =>
    withServer({
      "/timestamp.json": () => {/* accepts, reads, never answers */},
    }, async (server) => {
      const storage = new HttpStorage(server.url, FAST_LIMITS);
      await assert.rejects(
        storage.read("timestamp.json", { maxBytes: 1024 }),
        (error) => error instanceof DownloadError && /no answer within/.test(error.message),
      );
      assert.equal(server.hits.get("/timestamp.json"), 1);
      await assert.rejects(storage.stat("timestamp.json"), DownloadError);
      assert.equal(server.hits.get("/timestamp.json"), 2);
    }),
);

test(
  "HttpStorage still reads a body that arrives within its deadline, and retries a reset",
  { timeout: 8_000 },
  () => {
    let resets = 0;
    return withServer({
      "/a.json": (_request, response) => {
        if (resets++ === 0) {
          response.socket?.destroy();
          return;
        }
        response.writeHead(200, { "content-length": "5" }).end("hello");
      },
    }, async (server) => {
      const storage = new HttpStorage(server.url, FAST_LIMITS);
      const object = await storage.read("a.json", { maxBytes: 1024 });
      const bytes = await collectBytes(object.body as ReadableStream<Uint8Array>);
      assert.equal(new TextDecoder().decode(bytes), "hello");
      assert.equal(server.hits.get("/a.json"), 2);
    });
  },
);
