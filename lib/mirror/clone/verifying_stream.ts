import { HashMismatchError, LengthMismatchError, TooLargeError } from "../../errors.ts";
import { inlineHasher, type StreamHasher } from "../../format/hash_pool.ts";

/** A length and hashes that a file is allowed to have (from a signed manifest). */
export interface ExpectedFile {
  length: number;
  sha256: string;
  /** Checked as well when the manifest gives it (TiUP's manifests always do). */
  sha512?: string;
}

/** What passed through a verifying stream once it finished. */
export interface VerifiedDigest {
  length: number;
  sha256: string;
  /** Computed (and checked) when an expected file gives one. */
  sha512?: string;
}

/** Options for {@linkcode verifyingStream} and {@linkcode verifiedBody}. */
export interface VerifyOptions {
  /** Hears of every chunk that passes (for progress). */
  onBytes?: (count: number) => void;
  /**
   * Where the bytes are hashed (a HashPool's `hasher`); default on the calling thread. It must
   * compute SHA-512 when an expected file gives one (see {@linkcode needsSha512}).
   */
  hasher?: StreamHasher;
}

/**
 * A pass-through stream that lets bytes through only while they can still match one of
 * `expected`, and fails at the end unless the total length, SHA-256 and SHA-512 equal one of
 * them.
 *
 * Written into a Storage, a failure errors the write before its rename, so a file that does not
 * match its signed manifest never becomes visible. It refuses bytes past the largest expected
 * length at once (TooLargeError: the endless-data attack), a short or long file with
 * LengthMismatchError and wrong content with HashMismatchError (SHA-256 is the hash TiUP
 * clients check, TIUP-FORMAT.md §5.5; the manifest's SHA-512 is checked too, so a file is
 * accepted only when it matches everything the manifest signs).
 */
export function verifyingStream(
  expected: readonly ExpectedFile[],
  what: string,
  options: VerifyOptions = {},
): { stream: TransformStream<Uint8Array, Uint8Array>; digest: Promise<VerifiedDigest> } {
  const verifier = createVerifier(expected, what, options);
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      try {
        await verifier.accept(chunk);
      } catch (error) {
        controller.error(error);
        return;
      }
      controller.enqueue(chunk);
    },
    async flush(controller) {
      try {
        await verifier.finish();
      } catch (error) {
        controller.error(error);
      }
    },
    cancel(reason) {
      verifier.fail(reason);
    },
  });
  return { stream, digest: verifier.digest };
}

/**
 * The same checks as {@linkcode verifyingStream}, as a stream that pulls from `source` itself:
 * one stream hop per chunk instead of a pipe into a TransformStream (two queues and their
 * promises per chunk), which is what a bulk download feeds to its storage write.
 */
export function verifiedBody(
  source: ReadableStream<Uint8Array>,
  expected: readonly ExpectedFile[],
  what: string,
  options: VerifyOptions = {},
): { body: ReadableStream<Uint8Array>; digest: Promise<VerifiedDigest> } {
  const verifier = createVerifier(expected, what, options);
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          await verifier.finish();
          controller.close();
          return;
        }
        await verifier.accept(value);
        controller.enqueue(value);
      } catch (error) {
        verifier.fail(error);
        await reader.cancel(error).catch(() => {});
        controller.error(error);
      }
    },
    async cancel(reason) {
      verifier.fail(reason);
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  return { body, digest: verifier.digest };
}

interface Verifier {
  /** Counts and hashes a chunk; throws once the bytes can no longer match. */
  accept(chunk: Uint8Array): void | Promise<void>;
  /** Checks the whole; settles `digest`; throws on a mismatch. */
  finish(): Promise<void>;
  /** The stream failed elsewhere: `digest` rejects with `reason`. */
  fail(reason: unknown): void;
  digest: Promise<VerifiedDigest>;
}

function createVerifier(
  expected: readonly ExpectedFile[],
  what: string,
  options: VerifyOptions,
): Verifier {
  if (expected.length === 0) throw new TypeError(`Cannot verify "${what}" against nothing`);
  const limit = Math.max(...expected.map((e) => e.length));
  const hasher = options.hasher ?? inlineHasher({ sha512: needsSha512(expected) });
  let length = 0;
  let settled = false;
  let settle: (digest: VerifiedDigest) => void = () => {};
  let reject: (error: unknown) => void = () => {};
  const digest = new Promise<VerifiedDigest>((resolve, rejectDigest) => {
    settle = resolve;
    reject = rejectDigest;
  });
  digest.catch(() => {});
  const fail = (reason: unknown) => {
    if (settled) return;
    settled = true;
    hasher.abort();
    reject(reason);
  };
  return {
    digest,
    fail,
    accept(chunk) {
      length += chunk.length;
      if (length > limit) {
        const error = new TooLargeError(what, limit);
        fail(error);
        throw error;
      }
      options.onBytes?.(chunk.length);
      return hasher.update(chunk);
    },
    async finish() {
      settled = true;
      let hashes;
      try {
        hashes = await hasher.digest();
      } catch (error) {
        reject(error);
        throw error;
      }
      const error = mismatch(expected, what, { length, ...hashes });
      if (error) {
        reject(error);
        throw error;
      }
      settle({ length, ...hashes });
    },
  };
}

/** True when one of `expected` gives a SHA-512, which must then be computed and checked. */
export function needsSha512(expected: readonly ExpectedFile[]): boolean {
  return expected.some((e) => e.sha512 !== undefined);
}

/**
 * The checks of {@linkcode verifyingStream}'s end, for bytes that were hashed elsewhere (a file
 * the runtime wrote): throws LengthMismatchError or HashMismatchError unless `actual` matches
 * one of `expected` in length, SHA-256 and (where given) SHA-512.
 */
export function checkDigest(
  expected: readonly ExpectedFile[],
  what: string,
  actual: VerifiedDigest,
): void {
  const error = mismatch(expected, what, actual);
  if (error) throw error;
}

function mismatch(
  expected: readonly ExpectedFile[],
  what: string,
  actual: VerifiedDigest,
): Error | undefined {
  const sameLength = expected.filter((e) => e.length === actual.length);
  if (sameLength.length === 0) {
    return new LengthMismatchError(
      `Cannot accept "${what}": it is ${actual.length} bytes, the signed manifest says ${
        expected.map((e) => e.length).join(" or ")
      }`,
    );
  }
  const sameSha256 = sameLength.filter((e) => e.sha256 === actual.sha256);
  if (sameSha256.length === 0) {
    return new HashMismatchError(
      `Cannot accept "${what}": its sha256 is ${actual.sha256}, the signed manifest says ${
        sameLength.map((e) => e.sha256).join(" or ")
      } (a stale or tampered copy?)`,
    );
  }
  if (actual.sha512 === undefined && needsSha512(sameSha256)) {
    throw new TypeError(`Cannot verify "${what}": its hasher computed no sha512`);
  }
  if (!sameSha256.some((e) => e.sha512 === undefined || e.sha512 === actual.sha512)) {
    return new HashMismatchError(
      `Cannot accept "${what}": its sha512 is ${actual.sha512}, the signed manifest says ${
        sameSha256.map((e) => e.sha512).join(" or ")
      } (its sha256 matches: a forged or corrupted manifest?)`,
    );
  }
  return undefined;
}
