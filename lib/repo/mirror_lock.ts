import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { AlreadyExistsError, NotFoundError, StorageError } from "../errors.ts";
import { readText } from "../storage/read_bytes.ts";
import type { Storage } from "../storage/storage.ts";
import { formatRfc3339 } from "./rfc3339.ts";

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
  /** Removes the lock file if it is still this lock's (idempotent). */
  release(): Promise<void>;
}

/** Options for {@linkcode acquireMirrorLock}. */
export interface MirrorLockOptions {
  now?: Date;
  /** Written into the lock; defaults to this process on this host. */
  owner?: LockOwner;
  /** Whether a process of this host is alive (default: `process.kill(pid, 0)`). */
  isAlive?: (pid: number) => boolean;
}

/**
 * Takes the mirror's writer lock: creates `lock` with a conditional write (`ifAbsent`), so only
 * one writer on any backend wins, and records pid, host and time in it. A lock left by a dead
 * process of this same host is stale and is replaced; any other existing lock is an error that
 * says who holds it and since when. Throws StorageError (cause AlreadyExistsError) when held.
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
  const isAlive = options.isAlive ?? processIsAlive;
  const text = JSON.stringify(owner);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await storage.write(LOCK_PATH, text, { ifAbsent: true });
      return { owner, release: () => releaseLock(storage, owner.token) };
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
      const held = await readLock(storage);
      if (held === "gone") continue;
      const where = `${storage.location.replace(/\/+$/, "")}/${LOCK_PATH}`;
      if (held === undefined) {
        throw new StorageError(
          `Cannot lock the mirror "${storage.location}": "${where}" exists but is not a ferry ` +
            `lock; if no writer is running, remove it and retry`,
          { cause: error },
        );
      }
      const stale = held.host === owner.host && !isAlive(held.pid);
      if (stale && attempt === 0) {
        // The holder died without releasing (killed, power loss): remove its lock, but only if
        // it is still that same lock, then try once more.
        const again = await readLock(storage);
        if (again !== "gone" && again?.token === held.token) {
          await storage.delete(LOCK_PATH).catch(ignoreNotFound);
        }
        continue;
      }
      throw new StorageError(
        `Cannot lock the mirror "${storage.location}": another writer (pid ${held.pid} on ` +
          `"${held.host}", since ${held.since}) holds "${where}"; wait for it to finish, or ` +
          `remove that file if the writer is gone`,
        { cause: error },
      );
    }
  }
  throw new StorageError(`Cannot lock the mirror "${storage.location}": the lock keeps changing`);
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
