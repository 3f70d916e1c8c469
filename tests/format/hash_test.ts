import assert from "node:assert/strict";
import { test } from "node:test";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashBytes, hashFile, hashingStream, hashStream } from "../../lib/format/hash.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";

const BYTES = new TextEncoder().encode("ferry hashes what it reads");

function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

test("hashStream() gives the length and both TiUP hashes by default", async () => {
  const digest = await hashStream(streamOf(BYTES.slice(0, 5), BYTES.slice(5)));
  assert.deepEqual(digest, { length: BYTES.length, ...hashBytes(BYTES) });
});

test("hashStream() computes only the hash asked for", async () => {
  const digest = await hashStream(streamOf(BYTES), ["sha512"]);
  assert.deepEqual(digest, { length: BYTES.length, sha512: hashBytes(BYTES).sha512 });
});

test("hashingStream() passes bytes through unchanged and resolves their digest", async () => {
  const hashing = hashingStream(["sha256"]);
  const out = await collectBytes(
    streamOf(BYTES.slice(0, 3), BYTES.slice(3)).pipeThrough(hashing.stream),
  );
  assert.deepEqual(out, BYTES);
  assert.deepEqual(await hashing.digest, { length: BYTES.length, sha256: hashBytes(BYTES).sha256 });
});

test("hashingStream() fails the stream, and the digest, with what check() throws", async () => {
  const wrong = new Error("hash mismatch");
  const hashing = hashingStream(["sha256"], {
    check: () => {
      throw wrong;
    },
  });
  await assert.rejects(collectBytes(streamOf(BYTES).pipeThrough(hashing.stream)), wrong);
  await assert.rejects(hashing.digest, wrong);
});

test("hashingStream() stops at the chunk onChunk() refuses (an endless body)", async () => {
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(100));
    },
  });
  const hashing = hashingStream(["sha256"], {
    onChunk: (_chunk, length) => {
      if (length > 1_000) throw new RangeError("too long");
    },
  });
  await assert.rejects(collectBytes(endless.pipeThrough(hashing.stream)), RangeError);
  await assert.rejects(hashing.digest, RangeError);
  assert.ok(pulled < 20, `read ${pulled} chunks past the cap`);
});

test("hashingStream() rejects its digest when the reader cancels", async () => {
  const hashing = hashingStream();
  const reader = streamOf(BYTES).pipeThrough(hashing.stream).getReader();
  await reader.cancel(new Error("not needed"));
  await assert.rejects(hashing.digest, /not needed/);
});

test("hashFile() gives a file's length and hashes across several reads, and rejects a missing file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-hash-file-"));
  try {
    for (const size of [0, 1, 4 * 1024 * 1024, 9 * 1024 * 1024 + 3]) {
      const bytes = new Uint8Array(randomBytes(size));
      const path = join(dir, `f${size}`);
      await writeFile(path, bytes);
      assert.deepEqual(await hashFile(path), { length: size, ...hashBytes(bytes) });
      assert.deepEqual(await hashFile(path, ["sha256"]), {
        length: size,
        sha256: hashBytes(bytes).sha256,
      });
    }
    await assert.rejects(hashFile(join(dir, "missing")), /ENOENT|no such file/i);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
