/**
 * The writer lock of a mirror on object storage, where no process can hold a file lock that
 * dies with it: a lease object (holder, token and expiry inside) created with a conditional
 * create, renewed while the writer works, and taken over only once it has expired or been
 * released, each step a compare-and-swap on the object's identity (S3 `If-Match`), so of two
 * writers racing for it exactly one wins. A writer that lost its lease (it was paused past the
 * expiry and someone took over) finds out at its next renewal or fence, and cannot commit.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { AlreadyExistsError, NotFoundError, StorageError } from "../errors.ts";
import { collectBytes } from "../storage/read_bytes.ts";
import type { ReplaceIfMatchStorage, Storage } from "../storage/storage.ts";

/** A storage a lease can live on. */
export type LeaseStorage = Storage & ReplaceIfMatchStorage;

/** Who holds a lease (written into it, for other writers' messages). */
export interface LeaseHolder {
  pid: number;
  host: string;
}

/** Options for {@linkcode acquireLease}. */
export interface LeaseOptions {
  holder: LeaseHolder;
  /** How long a lease lives without renewal. Default 30 s. */
  ttlMs?: number;
  /** How long to wait for a lease someone else holds before giving up. Default 120 s. */
  waitMs?: number;
  /** Milliseconds since the epoch (default Date.now); leases of all writers use real time. */
  clock?: () => number;
  /** Told once when the lease is held by someone else and this writer starts waiting. */
  onWait?: (message: string) => void;
}

/** A held lease. */
export interface Lease {
  readonly token: string;
  /**
   * Throws StorageError unless the lease is still this writer's with time to spare. With
   * `renew`, it first proves so with a compare-and-swap on the server (before a commit step).
   */
  fence(options?: { renew?: boolean }): Promise<void>;
  /** Stops renewing and marks the lease released, if it is still this one's (idempotent). */
  release(): Promise<void>;
}

interface LeaseBody extends LeaseHolder {
  format: "ferry-lease-1";
  token: string;
  since: string;
  /** Milliseconds since the epoch; 0 once released. */
  expires: number;
}

/**
 * Takes the lease at `path`, waiting (bounded) while someone else holds an unexpired one.
 *
 * @example
 * const lease = await acquireLease(storage, "lock", { holder: { pid, host } });
 * try { await lease.fence({ renew: true }); … } finally { await lease.release(); }
 */
export async function acquireLease(
  storage: LeaseStorage,
  path: string,
  options: LeaseOptions,
): Promise<Lease> {
  const ttl = options.ttlMs ?? 30_000;
  const clock = options.clock ?? Date.now;
  const deadline = clock() + (options.waitMs ?? 120_000);
  const token = randomBytes(12).toString("hex");
  const body = (expires: number): string =>
    JSON.stringify(
      {
        format: "ferry-lease-1",
        ...options.holder,
        token,
        since: new Date(clock()).toISOString(),
        expires,
      } satisfies LeaseBody,
    );
  let told = false;
  let swapsLost = 0;
  for (;;) {
    const expires = clock() + ttl;
    try {
      const stat = await storage.write(path, body(expires), { ifAbsent: true });
      return held(storage, path, { token, ttl, clock, body, identity: stat.identity!, expires });
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
    }
    const current = await readLease(storage, path);
    if (current === "gone") continue;
    if (current.body.expires <= clock()) {
      // Expired or released: replace exactly the lease that was read. A second taker's swap
      // then fails, as does the late renewal of the writer whose lease it was.
      const stat = await storage.replaceIfMatch(path, body(expires), current.identity);
      if (stat) {
        return held(storage, path, { token, ttl, clock, body, identity: stat.identity!, expires });
      }
      // Someone else swapped first: look again, but never spin against the server.
      if (clock() >= deadline) {
        throw new StorageError(
          `Cannot lock the mirror "${storage.location}": the lease "${path}" keeps changing`,
        );
      }
      await sleep(Math.min(1000, 50 * ++swapsLost));
      continue;
    }
    const who = `pid ${current.body.pid} on "${current.body.host}", since ${current.body.since}`;
    const until = new Date(current.body.expires).toISOString();
    if (clock() >= deadline) {
      throw new StorageError(
        `Cannot lock the mirror "${storage.location}": another writer (${who}) holds the lease ` +
          `"${path}" (renewed until ${until}); retry when it has finished`,
        { cause: new AlreadyExistsError(path) },
      );
    }
    if (!told) {
      told = true;
      options.onWait?.(
        `Waiting for another writer (${who}) to finish: it holds the mirror's lease until ${until}`,
      );
    }
    await sleep(Math.max(50, Math.min(1000, current.body.expires - clock(), deadline - clock())));
  }
}

interface HeldState {
  token: string;
  ttl: number;
  clock: () => number;
  body: (expires: number) => string;
  identity: string;
  expires: number;
}

function held(storage: LeaseStorage, path: string, state: HeldState): Lease {
  let lost: string | undefined;
  let released = false;
  let renewing: Promise<void> | undefined;
  const renew = (): Promise<void> => {
    renewing ??= (async () => {
      try {
        if (lost || released) return;
        const expires = state.clock() + state.ttl;
        const stat = await storage.replaceIfMatch(path, state.body(expires), state.identity);
        if (!stat) lost = "another writer took it over";
        else {
          state.identity = stat.identity!;
          state.expires = expires;
        }
      } catch {
        // A failed renewal (network) is tried again on the next tick; the expiry still counts.
      } finally {
        renewing = undefined;
      }
    })();
    return renewing;
  };
  // Renewed at a third of its life, so two renewals may fail before it expires.
  const timer = setInterval(() => void renew(), Math.max(10, Math.floor(state.ttl / 3)));
  (timer as { unref?: () => void }).unref?.();
  return {
    token: state.token,
    async fence(options = {}) {
      if (options.renew) await renew();
      if (!lost && state.clock() >= state.expires) lost = "it expired before it was renewed";
      if (lost) {
        throw new StorageError(
          `Cannot commit to the mirror "${storage.location}": this writer's lease "${path}" ` +
            `was lost (${lost}); nothing more is written, and the next writer recovers`,
        );
      }
    },
    async release() {
      if (released) return;
      await renewing;
      released = true;
      clearInterval(timer);
      if (lost) return;
      await storage.replaceIfMatch(path, state.body(0), state.identity).catch(() => undefined);
    },
  };
}

async function readLease(
  storage: LeaseStorage,
  path: string,
): Promise<{ body: LeaseBody; identity: string } | "gone"> {
  let text: string;
  let identity: string;
  try {
    // One read: the identity is the one of exactly these bytes.
    const object = await storage.read(path, { maxBytes: 4096 });
    identity = object.stat.identity ?? "";
    text = new TextDecoder().decode(await collectBytes(object.body, { maxBytes: 4096 }));
  } catch (error) {
    if (error instanceof NotFoundError) return "gone";
    throw error;
  }
  let body: Partial<LeaseBody> = {};
  try {
    body = JSON.parse(text);
  } catch {
    // handled below
  }
  if (
    body.format !== "ferry-lease-1" || typeof body.expires !== "number" ||
    typeof body.token !== "string"
  ) {
    throw new StorageError(
      `Cannot lock the mirror "${storage.location}": "${path}" exists but is not a ferry lease; ` +
        `if no writer is running, remove it and retry`,
    );
  }
  return { body: body as LeaseBody, identity };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
