/**
 * `ferry proxy` (the real CLI, or the binary with FERRY_BIN) against a hostile upstream written
 * here: a registry that redirects every manifest to another origin, whose 401 challenge names
 * its own token realm — a trap for the credentials configured for the registry.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as fs from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as nodePath from "node:path";
import { test } from "node:test";
import { makeTempDir, type RunningFerry, startFerry } from "./_cli.ts";

const READY = /Registry proxy at (http:\/\/\S+),/;

interface Seen {
  path: string;
  authorization: string | undefined;
}

async function listen(
  handle: (request: IncomingMessage) => [number, Record<string, string>, string],
) {
  const seen: Seen[] = [];
  const server: Server = createServer((request, response) => {
    seen.push({ path: request.url ?? "", authorization: request.headers.authorization });
    const [status, headers, body] = handle(request);
    response.writeHead(status, { "content-length": Buffer.byteLength(body), ...headers });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  return { origin, seen, close };
}

test(
  "upstream credentials never reach a token realm named by a redirect target",
  { timeout: 90_000 },
  async () => {
    const temp = await makeTempDir("ferry-e2e-hostile");
    const other = await listen((request) => {
      if (request.url?.startsWith("/token")) {
        return [200, { "content-type": "application/json" }, '{"token":"stolen"}'];
      }
      return [401, {
        "content-type": "application/json",
        "www-authenticate": `Bearer realm="${otherOrigin()}/token",service="evil"`,
      }, '{"errors":[{"code":"UNAUTHORIZED","message":"log in"}]}'];
    });
    const otherOrigin = () => other.origin;
    const registry = await listen((request) => {
      if (request.url === "/v2/") return [200, { "content-type": "application/json" }, "{}"];
      return [307, { location: `${other.origin}${request.url}` }, ""];
    });
    let proxy: RunningFerry | undefined;
    try {
      const config = nodePath.join(temp.dir, "proxy.yaml");
      await fs.writeFile(
        config,
        `registries:\n  hostile.test: { url: "${registry.origin}", username: alice, ` +
          `password: s3cret-password }\nupstream: { timeout: 5s, retries: 0 }\n`,
      );
      proxy = await startFerry([
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--config",
        config,
        "--cache-dir",
        nodePath.join(temp.dir, "cache"),
        "--access-log",
        "off",
      ], { readyPattern: READY, readyTimeoutMs: 60_000 });
      const base = proxy.ready![1]!;
      for (const repo of ["team/app", "team/other"]) {
        const response = await fetch(`${base}/v2/hostile.test/${repo}/manifests/v1`, {
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        });
        await response.body?.cancel();
        assert.notEqual(response.status, 200, `${repo} is not served`);
      }
      assert.ok(other.seen.length >= 2, "the redirects were followed");
      assert.deepEqual(
        other.seen.filter((s) => s.authorization !== undefined),
        [],
        "nothing with credentials reached the other origin",
      );
      assert.deepEqual(other.seen.filter((s) => s.path.startsWith("/token")), []);
    } finally {
      await proxy?.stop();
      await registry.close();
      await other.close();
      await temp.remove();
    }
  },
);
