/**
 * An upload is read from the request only as fast as its file is written: a disk that stops
 * taking bytes stops the reading of the body, so a slow disk never makes the server hold the
 * tarball in memory (issue 14: a 2 GB tarball with bounded server memory).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { UploadSessions } from "../../../lib/server/publish_api/upload_sessions.ts";

const CHUNK = 64 * 1024;
const TARBALL_BYTES = 64 * 1024 * 1024;
/** Generously more than the parser's, the file stream's and the pipe's buffers together. */
const READ_AHEAD_LIMIT = 8 * 1024 * 1024;
const BOUNDARY = "ferry-backpressure-boundary";

/** A multipart body of TARBALL_BYTES generated chunk by chunk, counting what was pulled. */
function countedUpload() {
  const head = new TextEncoder().encode(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big-v1.0.0-linux-amd64.tar.gz"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = new TextEncoder().encode(`\r\n--${BOUNDARY}--\r\n`);
  const block = new Uint8Array(CHUNK).map((_, i) => (i * 7) & 0xff);
  const sha256 = createHash("sha256");
  for (let sent = 0; sent < TARBALL_BYTES; sent += CHUNK) sha256.update(block);
  const counter = { pulled: 0 };
  let sent = -1;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = sent < 0 ? head : sent < TARBALL_BYTES ? block.slice() : undefined;
      if (chunk === undefined) {
        controller.enqueue(tail);
        controller.close();
        return;
      }
      sent = sent < 0 ? 0 : sent + CHUNK;
      counter.pulled += chunk.length;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  const request = new Request("http://mirror.test/api/v1/tarball/s1", {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
    body,
    duplex: "half",
  } as RequestInit);
  return { request, counter, sha256: sha256.digest("hex") };
}

/** A file sink that takes nothing until released: a disk that has stalled. */
function stalledDisk() {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const state = { written: 0, firstWrite: false };
  const open = () =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        state.firstWrite = true;
        state.written += chunk.length;
        released.then(() => done());
      },
    });
  return { open, release, state };
}

/** Waits until `read()` has stayed the same for a while (the reading has stopped). */
async function settled(read: () => number): Promise<number> {
  let last = -1;
  let unchanged = 0;
  while (unchanged < 10) {
    await sleep(20);
    const now = read();
    unchanged = now === last ? unchanged + 1 : 0;
    last = now;
  }
  return last;
}

describe("UploadSessions backpressure", { timeout: 120_000 }, () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(nodePath.join(tmpdir(), "ferry-upload-backpressure-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("stops reading the request body while the disk takes no bytes", async () => {
    const disk = stalledDisk();
    const sessions = new UploadSessions(dir, {
      maxBytes: TARBALL_BYTES * 2,
      openFile: disk.open,
    });
    try {
      const { request, counter, sha256 } = countedUpload();
      const receiving = sessions.receive("s1", request);
      receiving.catch(() => {});
      while (!disk.state.firstWrite) await sleep(10);
      const pulled = await settled(() => counter.pulled);
      assert.ok(
        pulled < READ_AHEAD_LIMIT,
        `read ${pulled} bytes of the body while the disk took none (limit ${READ_AHEAD_LIMIT})`,
      );
      disk.release();
      const upload = await receiving;
      assert.equal(upload.length, TARBALL_BYTES);
      assert.equal(upload.sha256, sha256);
      assert.equal(disk.state.written, TARBALL_BYTES);
    } finally {
      disk.release();
      await sessions.close();
    }
  });
});
