import { createHash } from "node:crypto";
import { HashMismatchError, LengthMismatchError, TooLargeError } from "../../errors.ts";

/** A length and SHA-256 that a file is allowed to have (from a signed manifest). */
export interface ExpectedFile {
  length: number;
  sha256: string;
}

/** What passed through a {@linkcode verifyingStream} once it finished. */
export interface VerifiedDigest {
  length: number;
  sha256: string;
}

/**
 * A pass-through stream that lets bytes through only while they can still match one of
 * `expected`, and fails at the end unless the total length and SHA-256 equal one of them.
 *
 * Written into a Storage, a failure errors the write before its rename, so a file that does not
 * match its signed manifest never becomes visible. It refuses bytes past the largest expected
 * length at once (TooLargeError: the endless-data attack), a short or long file with
 * LengthMismatchError and wrong content with HashMismatchError. SHA-256 is the hash TiUP clients
 * check (TIUP-FORMAT.md §5.5); sha512 is not recomputed because it adds no security once SHA-256
 * matches and would halve throughput. `onBytes` hears of every chunk that passes (for progress).
 */
export function verifyingStream(
  expected: readonly ExpectedFile[],
  what: string,
  onBytes?: (count: number) => void,
): { stream: TransformStream<Uint8Array, Uint8Array>; digest: Promise<VerifiedDigest> } {
  if (expected.length === 0) throw new TypeError(`Cannot verify "${what}" against nothing`);
  const limit = Math.max(...expected.map((e) => e.length));
  const hash = createHash("sha256");
  let length = 0;
  let settle: (digest: VerifiedDigest) => void = () => {};
  let fail: (error: unknown) => void = () => {};
  const digest = new Promise<VerifiedDigest>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  digest.catch(() => {});
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      length += chunk.length;
      if (length > limit) {
        const error = new TooLargeError(what, limit);
        fail(error);
        controller.error(error);
        return;
      }
      hash.update(chunk);
      controller.enqueue(chunk);
      onBytes?.(chunk.length);
    },
    flush(controller) {
      const sha256 = hash.digest("hex");
      const sameLength = expected.filter((e) => e.length === length);
      let error: Error | undefined;
      if (sameLength.length === 0) {
        error = new LengthMismatchError(
          `Cannot accept "${what}": it is ${length} bytes, the signed manifest says ${
            expected.map((e) => e.length).join(" or ")
          }`,
        );
      } else if (!sameLength.some((e) => e.sha256 === sha256)) {
        error = new HashMismatchError(
          `Cannot accept "${what}": its sha256 is ${sha256}, the signed manifest says ${
            sameLength.map((e) => e.sha256).join(" or ")
          } (a stale or tampered copy?)`,
        );
      }
      if (error) {
        fail(error);
        controller.error(error);
        return;
      }
      settle({ length, sha256 });
    },
    cancel(reason) {
      fail(reason);
    },
  });
  return { stream, digest };
}
