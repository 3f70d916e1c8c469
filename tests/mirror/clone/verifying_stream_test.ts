import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { HashMismatchError, LengthMismatchError, TooLargeError } from "../../../lib/errors.ts";
import { verifyingStream } from "../../../lib/mirror/clone/verifying_stream.ts";

const bytes = new TextEncoder().encode("the tarball bytes");
const good = { length: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };

async function pass(chunks: Uint8Array[], expected = [good]) {
  const { stream, digest } = verifyingStream(expected, "t.tar.gz");
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  const out: Uint8Array[] = [];
  for await (const chunk of source.pipeThrough(stream)) out.push(chunk);
  return { out, digest: await digest };
}

test("verifyingStream() passes matching bytes through and reports their digest", async () => {
  const { out, digest } = await pass([bytes.slice(0, 5), bytes.slice(5)]);
  assert.equal(Buffer.concat(out).toString(), "the tarball bytes");
  assert.deepEqual(digest, good);
});

test("verifyingStream() accepts any one of several signed files", async () => {
  const other = { length: 3, sha256: "0".repeat(64) };
  assert.deepEqual((await pass([bytes], [other, good])).digest, good);
});

test("verifyingStream() rejects a tampered file of the right length", async () => {
  const tampered = bytes.slice();
  tampered[0] = 0x54;
  await assert.rejects(pass([tampered]), HashMismatchError);
});

test("verifyingStream() rejects a truncated file", async () => {
  await assert.rejects(pass([bytes.slice(0, 4)]), LengthMismatchError);
});

test("verifyingStream() stops endless data at the signed length", async () => {
  let sent = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      sent += 1024;
      controller.enqueue(new Uint8Array(1024));
    },
  });
  const { stream } = verifyingStream([good], "t.tar.gz");
  await assert.rejects(
    (async () => {
      for await (const _ of endless.pipeThrough(stream)) { /* drain */ }
    })(),
    TooLargeError,
  );
  assert.ok(sent < 64 * 1024, `stopped after ${sent} bytes`);
});
