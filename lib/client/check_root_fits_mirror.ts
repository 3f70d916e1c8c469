import { type Clock, systemClock } from "../clock.ts";
import {
  DownloadError,
  ExpiredError,
  NotFoundError,
  SignatureError,
  StorageError,
  VerificationError,
} from "../errors.ts";
import { MirrorUpdater } from "../trust/mirror_updater.ts";
import { TrustedMetadataSet } from "../trust/trusted_set.ts";
import type { StorageReader } from "../storage/storage.ts";

/** Options for {@linkcode checkRootFitsMirror}. */
export interface CheckRootFitsMirrorOptions {
  /** The mirror's address, for messages. Default: `mirror.location`. */
  address?: string;
  /** Where the root came from (a file, a URL, "the cached root"), for messages. */
  rootFrom?: string;
  /** What to do about a root of another mirror, appended to that error's message. */
  wrongRootHint?: string;
  /** The clock. Default: the real time. */
  now?: Clock;
}

/** What {@linkcode checkRootFitsMirror} found when the root does belong to the mirror. */
export interface RootFit {
  /** The root version the mirror's chain reached from the given root. */
  rootVersion: number;
  /** Set when the keys match but a manifest (root, timestamp, …) is past its expiry. */
  expired?: ExpiredError;
}

/**
 * Checks, before a root is trusted for a mirror, that the mirror's metadata verifies from it:
 * the same walk a client makes (root chain N+1…, timestamp, snapshot, index), run by the
 * updater over `mirror` with nothing cached and nothing written. Tells apart:
 *
 * - a root of another mirror: SignatureError "The root … does not belong to the mirror …" (the
 *   chain or the timestamp is not signed by its keys), with the verifier's finding as cause;
 * - an unreachable mirror: the DownloadError or StorageError, reworded "Cannot reach the mirror
 *   … to check the root against it";
 * - a mirror without timestamp.json: StorageError saying it is not a usable TiUP mirror;
 * - expired metadata with matching keys: not thrown; the first expiry found is returned as
 *   `expired`, since the root is the right one and only the mirror's owner can renew it
 *   (`ferry mirror renew`, `ferry mirror rotate`). Expiry never hides a signature failure.
 *
 * Other verification failures (rollback, hash, format) are thrown as they are.
 *
 * @example
 * ```ts
 * const fit = await checkRootFitsMirror(openStorage(addr), rootBytes, { rootFrom: "root.json" });
 * if (fit.expired) console.warn(fit.expired.message);
 * ```
 */
export async function checkRootFitsMirror(
  mirror: StorageReader,
  root: Uint8Array,
  options: CheckRootFitsMirrorOptions = {},
): Promise<RootFit> {
  const address = options.address ?? mirror.location;
  const from = options.rootFrom ? ` (${options.rootFrom})` : "";
  const now = options.now ?? systemClock;
  // The root itself first (valid, signed by its own keys): that failure is about the file,
  // not about which mirror it belongs to.
  new TrustedMetadataSet(root, {
    now,
    ...(options.rootFrom ? { rootFile: options.rootFrom } : {}),
  });
  // Expiry is collected, not thrown, so that the signatures are checked all the way down.
  const expired: ExpiredError[] = [];
  const updater = new MirrorUpdater(mirror, {
    trustedRoot: root,
    now,
    onExpired: (error) => expired.push(error),
  });
  try {
    const refreshed = await updater.refresh();
    if (expired.length === 0) return { rootVersion: refreshed.rootVersion };
    // An expiry seen before a root walk may be gone after it (an old root, since rotated): the
    // strict walk, which a client makes, says whether one remains.
    const strict = new MirrorUpdater(mirror, { trustedRoot: root, now });
    const remaining = await strict.refresh().then(() => undefined, (error) => {
      if (error instanceof ExpiredError) return error;
      throw error;
    });
    return { rootVersion: refreshed.rootVersion, ...(remaining ? { expired: remaining } : {}) };
  } catch (error) {
    if (error instanceof SignatureError) {
      const hint = options.wrongRootHint ? `; ${options.wrongRootHint}` : "";
      throw new SignatureError(
        `The root.json given${from} does not belong to the mirror "${address}": the mirror's manifests are not signed by its keys (${error.message})${hint}`,
        { cause: error },
      );
    }
    if (error instanceof NotFoundError) {
      throw new StorageError(
        `Cannot use the mirror "${address}": it has no "${error.path}" (is it a TiUP mirror? is the address right?); nothing was changed`,
        { cause: error },
      );
    }
    if (error instanceof VerificationError) throw error;
    if (error instanceof DownloadError || error instanceof StorageError) {
      const Reworded = error instanceof DownloadError ? DownloadError : StorageError;
      throw new Reworded(
        `Cannot reach the mirror "${address}" to check the root${from} against it (${error.message}); nothing was changed`,
        { cause: error },
      );
    }
    throw error;
  }
}
