import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { fileTransferOf } from "../../lib/http/body_file_transfer.ts";
import { DEFAULT_FETCH_POLICY, fetchWithPolicy } from "../../lib/http/fetch_policy.ts";
import { canWriteBodyToFile } from "../../lib/runtime.ts";
import { type HostileServer, startHostileServer } from "../storage/_hostile_server.ts";

const POLICY = { ...DEFAULT_FETCH_POLICY, retries: 0, idleTimeoutMs: 300 };
const ERRORS = {
  noAnswer: () => new Error("no answer"),
  body: (failure: { kind: string }) => new Error(`body: ${failure.kind}`),
};
const bytes = new Uint8Array(randomBytes(200_000));

describe("the file transfer fetchWithPolicy offers", () => {
  let server: HostileServer;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ferry-transfer-"));
    server = await startHostileServer({
      "/plain": (_q, response) => response.end(Buffer.from(bytes)),
      "/chunked": (_q, response) => {
        response.write(Buffer.from(bytes.subarray(0, 10)));
        response.end(Buffer.from(bytes.subarray(10)));
      },
      "/gzip": (_q, response) => {
        const packed = gzipSync(bytes);
        response.writeHead(200, {
          "content-encoding": "gzip",
          "content-length": String(packed.length),
        });
        response.end(packed);
      },
      "/partial": (_q, response) => {
        response.writeHead(206, { "content-length": "10", "content-range": "bytes 0-9/200000" });
        response.end(Buffer.from(bytes.subarray(0, 10)));
      },
      "/drip": (_q, response) => {
        response.writeHead(200, { "content-length": "1000" });
        response.write("x");
      },
    });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (path: string, method = "GET") =>
    fetchWithPolicy(fetch, `${server.url}${path}`, { method }, POLICY, {
      maxBytes: 1_000_000,
      errors: ERRORS,
    });

  test("a whole body of announced length is offered where the runtime copies natively", async () => {
    const response = await get("/plain");
    const toFile = fileTransferOf(response);
    assert.equal(toFile !== undefined, canWriteBodyToFile());
    if (!toFile) return await response.body?.cancel();
    const grew: number[] = [];
    const written = await toFile(join(dir, "plain"), (count) => grew.push(count));
    assert.equal(written, bytes.length);
    assert.equal(grew.reduce((a, b) => a + b, 0), bytes.length, "every byte reported once");
    assert.deepEqual(new Uint8Array(await readFile(join(dir, "plain"))), bytes);
    assert.equal(fileTransferOf(response), undefined, "offered once");
  });

  for (const path of ["/chunked", "/gzip", "/partial"]) {
    test(`no transfer is offered for ${path.slice(1)} answers; the stream still works`, async () => {
      const response = await get(path);
      assert.equal(fileTransferOf(response), undefined);
      const body = new Uint8Array(await response.arrayBuffer());
      assert.deepEqual(body, path === "/partial" ? bytes.subarray(0, 10) : bytes);
    });
  }

  test("a transfer that stalls fails with the policy's body error", async () => {
    const response = await get("/drip");
    const toFile = fileTransferOf(response);
    if (!toFile) return await response.body?.cancel();
    await assert.rejects(toFile(join(dir, "drip")), /body: stalled/);
  });
});
