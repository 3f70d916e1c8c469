/**
 * The mirror handler behind the runtime's real HTTP server, spoken to over a raw socket: what
 * fetch() cannot send (no Host header, dot segments as typed) and what only a real listener
 * shows (the runtime's own URL handling).
 *
 * @module
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import { runtimeName, serveHttp } from "../../lib/runtime.ts";
import { createMirrorHandler } from "../../lib/server/mirror_server.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { rawRequest } from "./_raw_http.ts";

const SECRET = "-----BEGIN PRIVATE KEY----- do not serve";
const TIMESTAMP = '{"signed":{"_type":"timestamp","version":7}}';

async function withServer(body: (port: number, root: string) => Promise<void>): Promise<void> {
  const base = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-server-socket-"));
  const root = nodePath.join(base, "mirror");
  await fs.mkdir(nodePath.join(root, "keys"), { recursive: true });
  await fs.mkdir(nodePath.join(root, "bin"));
  await fs.writeFile(nodePath.join(root, "timestamp.json"), TIMESTAMP);
  await fs.writeFile(nodePath.join(root, "keys", "abc-root.json"), SECRET);
  await fs.writeFile(nodePath.join(root, "bin", "root.json"), '{"signed":{}}');
  await fs.writeFile(nodePath.join(base, "secret.txt"), SECRET);
  const server = await serveHttp(createMirrorHandler(new LocalStorage(root)), {
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    await body(server.port, root);
  } finally {
    await server.shutdown(1000);
    await fs.rm(base, { recursive: true, force: true });
  }
}

test(
  "mirror server answers an HTTP/1.0 request without a Host header with the file, not the index",
  { timeout: 10_000 },
  () =>
    withServer(async (port) => {
      const response = await rawRequest(port, "GET /timestamp.json HTTP/1.0\r\n\r\n");
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), TIMESTAMP);
      assert.equal(response.headers.get("content-type"), "application/json");
    }),
);

// Deno hands ferry the request target as sent, so the dot segment reaches ferry's path check
// and gets 400. Bun's server resolves dot segments (and reads "\" as "/") before any handler
// runs, as a URL parser does, so the path is already inside the mirror: it is answered as the
// path it resolves to, and never leaves the mirror.
const TRAVERSALS: Array<[string, number]> = [
  ["/../secret.txt", 404],
  ["/bin/../../secret.txt", 404],
  ["/bin/../keys/abc-root.json", 404],
  ["/%2e%2e/secret.txt", 404],
  ["/bin/..\\..\\secret.txt", 404],
];

test(
  "mirror server refuses a raw dot-dot path sent over a socket (400, or resolved inside on Bun)",
  { timeout: 10_000 },
  () =>
    withServer(async (port) => {
      for (const [path, bunStatus] of TRAVERSALS) {
        const response = await rawRequest(
          port,
          `GET ${path} HTTP/1.1\r\nHost: mirror.test\r\nConnection: close\r\n\r\n`,
        );
        assert.equal(response.status, runtimeName() === "bun" ? bunStatus : 400, path);
        assert.ok(!response.body.toString().includes(SECRET), `${path} leaked the secret`);
      }
      // Bun resolves "/bin/../timestamp.json" to the real file; Deno refuses it as written.
      const resolved = await rawRequest(
        port,
        "GET /bin/../timestamp.json HTTP/1.1\r\nHost: mirror.test\r\nConnection: close\r\n\r\n",
      );
      assert.equal(resolved.status, runtimeName() === "bun" ? 200 : 400);
    }),
);

test(
  "mirror server never serves private keys through a symlink inside the mirror (real socket)",
  { timeout: 10_000 },
  () =>
    withServer(async (port, root) => {
      await fs.symlink(".", nodePath.join(root, "self"));
      await fs.symlink("keys", nodePath.join(root, "pubkeys"));
      await fs.symlink("keys/abc-root.json", nodePath.join(root, "rootkey.json"));
      for (const path of ["/self/keys/abc-root.json", "/pubkeys/abc-root.json", "/rootkey.json"]) {
        for (let i = 0; i < 2; i++) {
          const response = await rawRequest(
            port,
            `GET ${path} HTTP/1.1\r\nHost: mirror.test\r\nConnection: close\r\n\r\n`,
          );
          assert.equal(response.status, 404, path);
          assert.ok(!response.body.toString().includes(SECRET), `${path} leaked the key`);
        }
      }
      const ok = await rawRequest(
        port,
        "GET /self/timestamp.json HTTP/1.1\r\nHost: mirror.test\r\nConnection: close\r\n\r\n",
      );
      assert.equal(ok.status, 200);
      assert.equal(ok.body.toString(), TIMESTAMP);
    }),
);
