import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { AlreadyExistsError, NotFoundError, StorageError } from "../errors.ts";
import { readText } from "../storage/read_bytes.ts";
import { canReplaceIfMatch, type Storage, type StorageLock } from "../storage/storage.ts";
import { acquireLease } from "./mirror_lease.ts";
import { formatRfc3339 } from "../format/rfc3339.ts";

/** The lock file's path in the mirror: TiUP's writer flocks `<mirror>/lock` too. */
export const LOCK_PATH = "lock";

/** Who holds a mirror lock. */
export interface LockOwner {
  pid: number;
  host: string;
}

/** A held lock; release it in a `finally`. */
export interface MirrorLock {
  /** What was written into the lock file. */
  readonly owner: LockOwner & { since: string; token: string };
  /** Drops the lock if it is still this one's (idempotent); a flock's `lock` file stays. */
  release(): Promise<void>;
  /**
   * Where the lock can be lost while held (a lease on object storage): throws unless it is
   * still held; with `renew`, proves it on the server first. Writers call it before each write.
   */
  fence?(options?: { renew?: boolean }): Promise<void>;
}

/** Options for {@linkcode acquireMirrorLock}. */
export interface MirrorLockOptions {
  now?: Date;
  /** Written into the lock; defaults to this process on this host. */
  owner?: LockOwner;
  /** Whether a process of this host is alive (default: `process.kill(pid, 0)`). */
  isAlive?: (pid: number) => boolean;
  /**
   * How long to wait for a lock or lease another writer holds before giving up
   * (default {@linkcode LOCK_WAIT_MS}; 0: fail at once).
   */
  waitMs?: number;
  /** Leases only: how long a lease lives without renewal (default 30 s). */
  leaseTtlMs?: number;
  /** Told when this writer starts waiting for another one. */
  onWait?: (message: string) => void;
}

/**
 * How long a writer waits for another one to finish, by default: the flock of a local mirror
 * and the lease of an object store alike (a publish of a large tarball holds either a while).
 */
export const LOCK_WAIT_MS = 120_000;

/** Temporary files older than this are an interrupted write's, never a live writer's. */
export const TEMP_FILE_GRACE_MS = 60 * 60 * 1000;

/**
 * Takes the mirror's writer lock, then sweeps the temporary files of interrupted writes (older
 * than {@linkcode TEMP_FILE_GRACE_MS}).
 *
 * - Where the storage has file locks (local disk), the lock is flock(2) on `<mirror>/lock`,
 *   exactly the lock TiUP's writer takes: a `tiup` writer and a ferry writer exclude each other,
 *   the empty 0600 `lock` TiUP leaves behind is simply reused, and a killed holder's lock is
 *   dropped by the kernel, so there is no stale lock to take over. The holder's pid, host and time
 *   are written into the file for other writers' messages, and cleared on release.
 * - Elsewhere (memory, object stores) the lock is the file `lock` created with a conditional
 *   write (`ifAbsent`), so only one writer on any backend wins. A lock left by a dead process of
 *   this same host is stale and is taken over atomically: a taker must first create the marker
 *   `.ferry-lock-takeover-<token of the stale lock>` (again `ifAbsent`), so of two takers racing
 *   for the same stale lock only one removes it — the loser cannot remove the winner's new lock.
 *
 * - On storages that can compare-and-swap (S3 `If-Match`), whose writers may run on many
 *   machines, the lock is a lease (mirror_lease.ts): it expires unless renewed, so a dead
 *   writer's lock frees itself after its time to live, and `fence` stops a writer that lost it.
 *
 * Whichever it is, a writer that finds it held by someone else waits for it (`waitMs`, default
 * {@linkcode LOCK_WAIT_MS}), says so once through `onWait`, naming the holder, and then gives up
 * with an error that says who holds it and since when: StorageError with cause
 * AlreadyExistsError. One policy for all three, so two publishes started together on a local
 * mirror both land, as they do on S3.
 */
export async function acquireMirrorLock(
  storage: Storage,
  options: MirrorLockOptions = {},
): Promise<MirrorLock> {
  const owner = {
    ...(options.owner ?? { pid: process.pid, host: hostname() }),
    since: formatRfc3339(options.now ?? new Date()),
    token: randomBytes(12).toString("hex"),
  };
  const wait: LockWait = { waitMs: options.waitMs ?? LOCK_WAIT_MS, onWait: options.onWait };
  const lock = storage.tryLock
    ? await takeFileLock(storage, owner, wait)
    : canReplaceIfMatch(storage)
    ? await takeLease(storage, owner, options, wait)
    : await takeLockFile(storage, owner, options.isAlive ?? processIsAlive, wait);
  try {
    // Real time, not `now`: it is compared with the files' real mtimes.
    await storage.sweepTempFiles?.({ before: new Date(Date.now() - TEMP_FILE_GRACE_MS) });
  } catch (error) {
    await lock.release();
    throw error;
  }
  return lock;
}

async function takeLease(
  storage: Storage & Parameters<typeof acquireLease>[0],
  owner: HeldLock,
  options: MirrorLockOptions,
  wait: LockWait,
): Promise<MirrorLock> {
  const lease = await acquireLease(storage, LOCK_PATH, {
    holder: { pid: owner.pid, host: owner.host },
    waitMs: wait.waitMs,
    ...(options.leaseTtlMs !== undefined ? { ttlMs: options.leaseTtlMs } : {}),
    ...(wait.onWait ? { onWait: wait.onWait } : {}),
  });
  return {
    owner: { ...owner, token: lease.token },
    release: () => lease.release(),
    fence: (fenceOptions) => lease.fence(fenceOptions),
  };
}

/** How long to wait for a held lock, and whom to tell (the lease's policy, for every lock). */
interface LockWait {
  waitMs: number;
  onWait?: ((message: string) => void) | undefined;
}

/** A lock someone else holds, as one attempt found it. */
class Busy {
  constructor(
    /** "another writer (pid 7 on "builder", since …)", for messages. */
    readonly who: string,
    /** What the holder holds: `the lock on "<mirror>/lock"`. */
    readonly what: string,
    /** The end of the sentence when giving up. */
    readonly advice: string,
  ) {}
}

/**
 * Runs `attempt` until it gets the lock or `wait.waitMs` have passed, as the lease does: says
 * once, through `onWait`, who holds it, polls at growing intervals (up to 1 s, with jitter so
 * that waiters do not march in step), and gives up with an error naming the holder.
 */
async function waitForLock<T>(
  storage: Storage,
  wait: LockWait,
  attempt: () => Promise<T | Busy>,
): Promise<T> {
  const started = Date.now();
  const deadline = started + wait.waitMs;
  let told = false;
  for (let round = 0;; round++) {
    const result = await attempt();
    if (!(result instanceof Busy)) return result;
    const left = deadline - Date.now();
    if (left <= 0) {
      const waited = wait.waitMs > 0
        ? ` (waited ${Math.round((Date.now() - started) / 1000)} s)`
        : "";
      throw new StorageError(
        `Cannot lock the mirror "${storage.location}": ${result.who} holds ${result.what}` +
          `${waited}; ${result.advice}`,
        { cause: new AlreadyExistsError(LOCK_PATH) },
      );
    }
    if (!told) {
      told = true;
      wait.onWait?.(`Waiting for ${result.who} to finish: it holds ${result.what}`);
    }
    const pause = Math.min(1000, 50 * 2 ** Math.min(round, 5)) * (0.75 + Math.random() / 2);
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(pause, left))));
  }
}

function takeFileLock(storage: Storage, owner: HeldLock, wait: LockWait): Promise<MirrorLock> {
  return waitForLock(storage, wait, async () => {
    const held = await storage.tryLock!(LOCK_PATH);
    if (!held) {
      const holder = await readLock(storage);
      const who = holder === "gone" || holder === undefined
        ? "another process (a tiup or ferry writer)"
        : `another writer (pid ${holder.pid} on "${holder.host}", since ${holder.since})`;
      return new Busy(
        who,
        `the lock on "${lockFile(storage)}"`,
        "wait for it to finish and retry",
      );
    }
    return await noted(held, owner);
  });
}

/** The flock `held`, with `owner` written into the lock file until it is released. */
async function noted(held: StorageLock, owner: HeldLock): Promise<MirrorLock> {
  try {
    await held.note(JSON.stringify(owner));
  } catch (error) {
    await held.release();
    throw error;
  }
  let released = false;
  return {
    owner,
    async release() {
      if (released) return;
      released = true;
      try {
        await held.note("");
      } finally {
        await held.release();
      }
    },
  };
}

function takeLockFile(
  storage: Storage,
  owner: HeldLock,
  isAlive: (pid: number) => boolean,
  wait: LockWait,
): Promise<MirrorLock> {
  const text = JSON.stringify(owner);
  return waitForLock(storage, wait, async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await storage.write(LOCK_PATH, text, { ifAbsent: true });
        return { owner, release: () => releaseLock(storage, owner.token) };
      } catch (error) {
        if (!(error instanceof AlreadyExistsError)) throw error;
        const held = await readLock(storage);
        if (held === "gone") continue;
        if (held === undefined) {
          throw new StorageError(
            `Cannot lock the mirror "${storage.location}": "${lockFile(storage)}" exists but is ` +
              `not a ferry lock; if no writer is running, remove it and retry`,
            { cause: error },
          );
        }
        const stale = held.host === owner.host && !isAlive(held.pid);
        if (stale && attempt === 0 && await takeOver(storage, held, owner.token)) continue;
        return new Busy(
          `another writer (pid ${held.pid} on "${held.host}", since ${held.since})`,
          `"${lockFile(storage)}"`,
          "wait for it to finish, or remove that file if the writer is gone",
        );
      }
    }
    throw new StorageError(`Cannot lock the mirror "${storage.location}": the lock keeps changing`);
  });
}

/**
 * Removes the stale lock `held` if this taker wins its takeover marker; false when another
 * taker won it. Only a marker holder deletes a lock with that token, and tokens are never
 * reused, so between the re-check and the delete nobody else can replace that lock.
 */
async function takeOver(storage: Storage, held: HeldLock, token: string): Promise<boolean> {
  const marker = `${TAKEOVER_PREFIX}${held.token.replace(/[^0-9a-zA-Z]/g, "")}`;
  try {
    await storage.write(marker, token, { ifAbsent: true });
  } catch (error) {
    if (error instanceof AlreadyExistsError) return false;
    throw error;
  }
  try {
    const again = await readLock(storage);
    if (again !== "gone" && again?.token === held.token) {
      await storage.delete(LOCK_PATH).catch(ignoreNotFound);
    }
  } finally {
    await storage.delete(marker).catch(ignoreNotFound);
  }
  return true;
}

const TAKEOVER_PREFIX = ".ferry-lock-takeover-";

function lockFile(storage: Storage): string {
  return `${storage.location.replace(/\/+$/, "")}/${LOCK_PATH}`;
}

type HeldLock = LockOwner & { since: string; token: string };

async function readLock(storage: Storage): Promise<HeldLock | undefined | "gone"> {
  let text: string;
  try {
    text = await readText(storage, LOCK_PATH, { maxBytes: 4096 });
  } catch (error) {
    if (error instanceof NotFoundError) return "gone";
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<HeldLock>;
    if (
      typeof value.pid === "number" && typeof value.host === "string" &&
      typeof value.token === "string"
    ) {
      return { pid: value.pid, host: value.host, since: String(value.since), token: value.token };
    }
  } catch {
    // not ours
  }
  return undefined;
}

async function releaseLock(storage: Storage, token: string): Promise<void> {
  const held = await readLock(storage);
  if (held === "gone" || held?.token !== token) return;
  await storage.delete(LOCK_PATH).catch(ignoreNotFound);
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof NotFoundError)) throw error;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as { code?: string }).code === "EPERM";
  }
}
