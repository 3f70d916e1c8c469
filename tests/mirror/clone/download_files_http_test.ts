/**
 * downloadFiles() from a real HTTP server into a local directory: on Bun the runtime copies each
 * body into the temporary file itself (StoredObject.toFile) and the file is hashed afterwards;
 * under Deno the body streams through the verifier. Both ways must refuse exactly the same
 * things and leave nothing visible, nor any temporary file, for what they refuse.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, before, describe, test } from "node:test";
import { exitCodeFor } from "../../../lib/cli/exit_codes.ts";
import {
  DownloadError,
  HashMismatchError,
  LengthMismatchError,
  TooLargeError,
} from "../../../lib/errors.ts";
import { downloadFiles, type FileTask } from "../../../lib/mirror/clone/download_files.ts";
import { canWriteBodyToFile } from "../../../lib/runtime.ts";
import { HttpStorage } from "../../../lib/storage/http_storage.ts";
import { LocalStorage } from "../../../lib/storage/local_storage.ts";
import { type HostileServer, startHostileServer } from "../../storage/_hostile_server.ts";

const made: string[] = [];
after(async () => {
  for (const dir of made) await fs.rm(dir, { recursive: true, force: true });
});

function hashes(bytes: Uint8Array) {
  return {
    length: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    sha512: createHash("sha512").update(bytes).digest("hex"),
  };
}

const big = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17));
const small = new Uint8Array(randomBytes(1000));
const other = new Uint8Array(randomBytes(1000));

describe("downloadFiles() over HTTP into a directory", () => {
  let server: HostileServer;
  before(async () => {
    server = await startHostileServer({
      "/big.tar.gz": (_q, response) => response.end(Buffer.from(big)),
      "/small.tar.gz": (_q, response) => response.end(Buffer.from(small)),
      // Same length as `small`, other bytes.
      "/tampered.tar.gz": (_q, response) => response.end(Buffer.from(other)),
      // Announces 1000 bytes, sends 100 and hangs up.
      "/short.tar.gz": (_q, response) => {
        response.writeHead(200, { "content-length": "1000" });
        response.write(Buffer.from(small.subarray(0, 100)));
        setTimeout(() => response.socket?.destroy(), 20);
      },
      // Announces 1000 bytes, sends 100 and goes silent.
      "/stalled.tar.gz": (_q, response) => {
        response.writeHead(200, { "content-length": "1000" });
        response.write(Buffer.from(small.subarray(0, 100)));
      },
      // Announces more than the manifest signs.
      "/huge.tar.gz": (_q, response) => {
        response.writeHead(200, { "content-length": String(10 * 1024 * 1024) });
        response.write(Buffer.alloc(1024));
      },
    });
  });
  after(() => server.close());

  async function run(tasks: FileTask[], existing: Record<string, Uint8Array> = {}) {
    const dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-download-http-"));
    made.push(dir);
    for (const [name, bytes] of Object.entries(existing)) {
      await fs.writeFile(nodePath.join(dir, name), bytes);
    }
    const source = new HttpStorage(server.url, {
      headersTimeoutMs: 2_000,
      idleTimeoutMs: 500,
      retries: 0,
    });
    const report = await downloadFiles(source, new LocalStorage(dir), tasks, {
      overwrite: true,
    });
    const left = (await fs.readdir(dir)).sort();
    return { dir, report, left };
  }

  test("offers the runtime's file copy exactly where the runtime has one", async () => {
    const source = new HttpStorage(server.url, { retries: 0 });
    const object = await source.read("small.tar.gz", { maxBytes: 1000 });
    assert.equal(object.toFile !== undefined, canWriteBodyToFile());
    await (object.body as ReadableStream).cancel();
  });

  test("places verified files byte for byte, and leaves no temporary file", async () => {
    const { dir, report, left } = await run([
      { path: "big.tar.gz", expected: [hashes(big)] },
      { path: "small.tar.gz", expected: [hashes(small)] },
    ]);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.downloaded, ["big.tar.gz", "small.tar.gz"]);
    assert.equal(report.bytes, big.length + small.length);
    assert.deepEqual(left, ["big.tar.gz", "small.tar.gz"]);
    assert.deepEqual(new Uint8Array(await fs.readFile(nodePath.join(dir, "big.tar.gz"))), big);
  });

  const refusals: Array<[string, FileTask, (error: Error) => boolean, number]> = [
    [
      "other bytes of the signed length (sha256 differs)",
      { path: "tampered.tar.gz", expected: [hashes(small)] },
      (e) => e instanceof HashMismatchError,
      3,
    ],
    [
      "the signed sha256 but another sha512",
      {
        path: "small.tar.gz",
        expected: [{ ...hashes(small), sha512: "0".repeat(128) }],
      },
      (e) => e instanceof HashMismatchError && /sha512/.test(e.message),
      3,
    ],
    [
      "a shorter file than signed",
      { path: "small.tar.gz", expected: [hashes(big)].map((h) => ({ ...h, length: 2000 })) },
      (e) => e instanceof LengthMismatchError,
      3,
    ],
    [
      "a body that breaks off before its Content-Length",
      { path: "short.tar.gz", expected: [hashes(small)] },
      (e) => e instanceof DownloadError,
      4,
    ],
    [
      "a body that stalls",
      { path: "stalled.tar.gz", expected: [hashes(small)] },
      (e) => e instanceof DownloadError && /stall|idle|no data|within/i.test(e.message),
      4,
    ],
    [
      "an announced length over the signed one",
      { path: "huge.tar.gz", expected: [hashes(small)] },
      (e) => e instanceof TooLargeError,
      3,
    ],
  ];
  for (const [what, task, isExpected, exitCode] of refusals) {
    test(`refuses ${what}: the old file stays, no temporary file`, async () => {
      const old = new Uint8Array(randomBytes(50));
      const { dir, report, left } = await run([task], { [task.path]: old });
      assert.deepEqual(report.downloaded, []);
      assert.equal(report.failed.length, 1);
      const error = report.failed[0]!.error;
      assert.ok(isExpected(error), `${error.constructor.name}: ${error.message}`);
      assert.equal(exitCodeFor(error), exitCode, String(error));
      assert.deepEqual(left, [task.path], "only the old file");
      assert.deepEqual(new Uint8Array(await fs.readFile(nodePath.join(dir, task.path))), old);
    });
  }
});
