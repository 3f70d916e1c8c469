import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, describe, test } from "node:test";
import { HashMismatchError, LengthMismatchError, TooLargeError } from "../../../lib/errors.ts";
import { HashPool } from "../../../lib/format/hash_pool.ts";
import {
  type ExpectedFile,
  verifiedBody,
  verifyingStream,
  type VerifyOptions,
} from "../../../lib/mirror/clone/verifying_stream.ts";

const bytes = new TextEncoder().encode("the tarball bytes");
const good = {
  length: bytes.length,
  sha256: createHash("sha256").update(bytes).digest("hex"),
  sha512: createHash("sha512").update(bytes).digest("hex"),
};

const pool = new HashPool({ workers: 1 });
after(() => pool.close());

type Verify = (
  source: ReadableStream<Uint8Array>,
  expected: readonly ExpectedFile[],
  options: VerifyOptions,
) => { out: ReadableStream<Uint8Array>; digest: Promise<unknown> };

// Both shapes of the check (a TransformStream to pipe through, a stream that pulls its source),
// each hashing on the calling thread and on a worker.
const shapes: Array<[string, Verify, () => VerifyOptions]> = [
  ["verifyingStream()", (source, expected, options) => {
    const { stream, digest } = verifyingStream(expected, "t.tar.gz", options);
    return { out: source.pipeThrough(stream), digest };
  }, () => ({})],
  ["verifiedBody()", (source, expected, options) => {
    const { body, digest } = verifiedBody(source, expected, "t.tar.gz", options);
    return { out: body, digest };
  }, () => ({})],
  ["verifiedBody() on a hash worker", (source, expected, options) => {
    const { body, digest } = verifiedBody(source, expected, "t.tar.gz", options);
    return { out: body, digest };
  }, () => ({ hasher: pool.hasher() })],
];

for (const [name, verify, options] of shapes) {
  describe(name, () => {
    async function pass(chunks: Uint8Array[], expected: readonly ExpectedFile[] = [good]) {
      const source = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(chunk);
          controller.close();
        },
      });
      const { out, digest } = verify(source, expected, options());
      const received: Uint8Array[] = [];
      for await (const chunk of out) received.push(chunk);
      return { out: received, digest: await digest };
    }

    test(`${name} passes matching bytes through and reports their digest`, async () => {
      const { out, digest } = await pass([bytes.slice(0, 5), bytes.slice(5)]);
      assert.equal(Buffer.concat(out).toString(), "the tarball bytes");
      assert.deepEqual(digest, good);
    });

    test(`${name} accepts any one of several signed files`, async () => {
      const other = { length: 3, sha256: "0".repeat(64) };
      assert.deepEqual((await pass([bytes], [other, good])).digest, good);
    });

    test(`${name} accepts a manifest entry without sha512 by its sha256`, async () => {
      const { sha512: _, ...withoutSha512 } = good;
      const { digest } = await pass([bytes], [withoutSha512]);
      assert.equal((digest as { sha256: string }).sha256, good.sha256);
    });

    test(`${name} rejects a tampered file of the right length`, async () => {
      const tampered = bytes.slice();
      tampered[0] = 0x54;
      await assert.rejects(pass([tampered]), HashMismatchError);
    });

    test(`${name} rejects a file whose sha512 differs from the signed one`, async () => {
      // The right length and SHA-256, but the manifest signs another SHA-512: the file does not
      // match everything the manifest says, so it is refused.
      const forged = { ...good, sha512: "0".repeat(128) };
      await assert.rejects(pass([bytes], [forged]), (error) => {
        assert.ok(error instanceof HashMismatchError, String(error));
        assert.match(error.message, /sha512/);
        return true;
      });
    });

    test(`${name} rejects a truncated file`, async () => {
      await assert.rejects(pass([bytes.slice(0, 4)]), LengthMismatchError);
    });

    test(`${name} stops endless data at the signed length`, async () => {
      let sent = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          sent += 1024;
          controller.enqueue(new Uint8Array(1024));
        },
      });
      const { out, digest } = verify(endless, [good], options());
      await assert.rejects(
        (async () => {
          for await (const _ of out) { /* drain */ }
        })(),
        TooLargeError,
      );
      await assert.rejects(digest, TooLargeError);
      assert.ok(sent < 64 * 1024, `stopped after ${sent} bytes`);
    });
  });
}
