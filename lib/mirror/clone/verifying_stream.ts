import { HashMismatchError, LengthMismatchError, TooLargeError } from "../../errors.ts";
import { hashingStream, type StreamDigest } from "../../format/hash.ts";

/** A length and SHA-256 that a file is allowed to have (from a signed manifest). */
export interface ExpectedFile {
  length: number;
  sha256: string;
}

/** What passed through a {@linkcode verifyingStream} once it finished. */
export type VerifiedDigest = StreamDigest<"sha256">;

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
  return hashingStream(["sha256"], {
    onChunk: (chunk, length) => {
      if (length > limit) throw new TooLargeError(what, limit);
      onBytes?.(chunk.length);
    },
    check: ({ length, sha256 }) => {
      const sameLength = expected.filter((e) => e.length === length);
      if (sameLength.length === 0) {
        throw new LengthMismatchError(
          `Cannot accept "${what}": it is ${length} bytes, the signed manifest says ${
            expected.map((e) => e.length).join(" or ")
          }`,
        );
      }
      if (!sameLength.some((e) => e.sha256 === sha256)) {
        throw new HashMismatchError(
          `Cannot accept "${what}": its sha256 is ${sha256}, the signed manifest says ${
            sameLength.map((e) => e.sha256).join(" or ")
          } (a stale or tampered copy?)`,
        );
      }
    },
  });
}
