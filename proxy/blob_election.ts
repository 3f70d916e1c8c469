/**
 * Elects one fetcher per blob among proxy replicas that share one cache bucket, so that however
 * many replicas get a cold pull at once, the upstream sends the blob once. The election is the
 * mirror writers' lease (lib/writer/mirror_lease.ts: conditional create, holder and expiry
 * inside, renewed while held, taken over only once expired), one lease object per digest.
 *
 * @module
 */
import { hostname } from "node:os";
import { AlreadyExistsError, NotFoundError } from "../lib/errors.ts";
import { acquireLease, type Lease, type LeaseStorage } from "../lib/writer/mirror_lease.ts";
import { cacheKeys } from "./cache_keys.ts";
import { OciError } from "./oci_error.ts";

/** What an election made of this replica for one blob. */
export type Election =
  /** This replica fetches the blob; `done()` once it is committed or given up. */
  | { kind: "fetch"; lease: BlobLease }
  /** Another replica committed the blob: serve it from the cache. */
  | { kind: "committed" };

/** The lease a fetcher holds while it downloads (renewed in the background). */
export interface BlobLease {
  /** Throws when the lease was lost (expired, taken over), proving it on the server first. */
  fence(): Promise<void>;
  /** Removes the lease's object if it is still this replica's, and stops renewing it. */
  done(): Promise<void>;
}

/** Options for {@linkcode createBlobElection}. */
export interface BlobElectionOptions {
  /** How long a fetcher's lease lives without renewal (it renews at a third). Default 10 s. */
  ttlMs?: number;
  /** The longest a replica waits for another's download before it answers 503. Default 10 min. */
  waitMs?: number;
  /** The first pause between two looks at the bucket (doubling up to 1 s). Default 100 ms. */
  pollMs?: number;
  /** Milliseconds since the epoch (default Date.now). */
  clock?: () => number;
}

/** Decides, for a digest, whether this replica fetches it or waits for the one that does. */
export type ElectBlobFetcher = (digest: string, signal?: AbortSignal) => Promise<Election>;

/**
 * The election over `storage` (a bucket several replicas share). A call returns as soon as the
 * blob is committed (`committed`) or this replica holds the digest's lease (`fetch`); while
 * another replica holds an unexpired lease it waits, looking at the bucket with a growing pause,
 * and takes the lease over once the holder stopped renewing it (killed, or partitioned away).
 * The blob is looked for again after the lease is won: a fetcher that committed and removed its
 * lease just before must not cause a second download.
 */
export function createBlobElection(
  storage: LeaseStorage,
  options: BlobElectionOptions = {},
): ElectBlobFetcher {
  const ttlMs = options.ttlMs ?? 10_000;
  const waitMs = options.waitMs ?? 10 * 60_000;
  const clock = options.clock ?? Date.now;
  const holder = { pid: process.pid, host: hostname() };

  const committed = async (digest: string): Promise<boolean> => {
    try {
      await storage.stat(cacheKeys.blob(digest));
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  };

  /** The lease when free or expired; undefined while another replica holds it. */
  const tryLease = async (key: string): Promise<Lease | undefined> => {
    try {
      // waitMs 0: one look, no waiting inside (this loop waits, watching for the blob too).
      return await acquireLease(storage, key, { holder, ttlMs, waitMs: 0, clock });
    } catch (error) {
      if (error instanceof Error && error.cause instanceof AlreadyExistsError) return undefined;
      throw error;
    }
  };

  return async (digest, signal) => {
    const key = cacheKeys.blobLease(digest);
    const deadline = clock() + waitMs;
    let pause = options.pollMs ?? 100;
    let lastError: unknown;
    for (;;) {
      signal?.throwIfAborted();
      if (await committed(digest)) return { kind: "committed" };
      let lease: Lease | undefined;
      try {
        lease = await tryLease(key);
        lastError = undefined;
      } catch (error) {
        // A lost swap race or a failed request: look again after the pause (bounded below).
        lastError = error;
      }
      if (lease) {
        const won = lease;
        const done = async () => {
          // Removed while still ours and unexpired (so nobody can have taken it over); a lease
          // that was lost belongs to its new holder and stays.
          const ours = await won.fence().then(() => true, () => false);
          if (ours) await storage.delete(key).catch(() => {});
          await won.release();
        };
        if (await committed(digest).catch(() => false)) {
          await done();
          return { kind: "committed" };
        }
        return { kind: "fetch", lease: { fence: () => won.fence({ renew: true }), done } };
      }
      if (clock() >= deadline) {
        const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
        throw new OciError(
          503,
          "UNKNOWN",
          `Blob "${digest}" is being fetched by another proxy replica for longer than ` +
            `${Math.round(waitMs / 1000)} s${why}; retry later`,
        );
      }
      await sleep(Math.min(pause, Math.max(0, deadline - clock())), signal);
      pause = Math.min(1000, pause * 2);
    }
  };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
