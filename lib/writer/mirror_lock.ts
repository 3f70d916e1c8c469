import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { AlreadyExistsError, NotFoundError, StorageError } from "../errors.ts";
import { readText } from "../storage/read_bytes.ts";
import { canReplaceIfMatch, type Storage } from "../storage/storage.ts";
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
  /** Leases only: how long to wait for another writer's lease (default 120 s). */
  waitMs?: number;
  /** Leases only: how long a lease lives without renewal (default 30 s). */
  leaseTtlMs?: number;
  /** Told when this writer starts waiting for another one. */
  onWait?: (message: string) => void;
}

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
 *   writer's lock frees itself after its time to live, a writer waits (bounded, told through
 *   `onWait`) for one held by someone else, and `fence` stops a writer that lost it.
 *
 * Any lock held by someone else is an error that says who holds it and since when: StorageError
 * with cause AlreadyExistsError.
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
  const lock = storage.tryLock
    ? await takeFileLock(storage, owner)
    : canReplaceIfMatch(storage)
    ? await takeLease(storage, owner, options)
    : await takeLockFile(storage, owner, options.isAlive ?? processIsAlive);
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
): Promise<MirrorLock> {
  const lease = await acquireLease(storage, LOCK_PATH, {
    holder: { pid: owner.pid, host: owner.host },
    ...(options.waitMs !== undefined ? { waitMs: options.waitMs } : {}),
    ...(options.leaseTtlMs !== undefined ? { ttlMs: options.leaseTtlMs } : {}),
    ...(options.onWait ? { onWait: options.onWait } : {}),
  });
  return {
    owner: { ...owner, token: lease.token },
    release: () => lease.release(),
    fence: (fenceOptions) => lease.fence(fenceOptions),
  };
}

async function takeFileLock(storage: Storage, owner: HeldLock): Promise<MirrorLock> {
  const held = await storage.tryLock!(LOCK_PATH);
  if (!held) {
    const holder = await readLock(storage);
    const who = holder === "gone" || holder === undefined
      ? "another process (a tiup or ferry writer)"
      : `another writer (pid ${holder.pid} on "${holder.host}", since ${holder.since})`;
    throw new StorageError(
      `Cannot lock the mirror "${storage.location}": ${who} holds the lock on "${
        lockFile(storage)
      }"; wait for it to finish and retry`,
      { cause: new AlreadyExistsError(LOCK_PATH) },
    );
  }
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

async function takeLockFile(
  storage: Storage,
  owner: HeldLock,
  isAlive: (pid: number) => boolean,
): Promise<MirrorLock> {
  const text = JSON.stringify(owner);
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
      throw new StorageError(
        `Cannot lock the mirror "${storage.location}": another writer (pid ${held.pid} on ` +
          `"${held.host}", since ${held.since}) holds "${lockFile(storage)}"; wait for it to ` +
          `finish, or remove that file if the writer is gone`,
        { cause: error },
      );
    }
  }
  throw new StorageError(`Cannot lock the mirror "${storage.location}": the lock keeps changing`);
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
