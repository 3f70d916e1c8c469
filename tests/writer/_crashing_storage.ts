/**
 * A storage that "kills the writer" after its Nth storage operation, for the crash-point tests:
 * operations 1..N happen, then every further call (reads included) throws SimulatedCrash, as if
 * the process had died right after the Nth write, delete or lock note. Its `tryLock` is the
 * inner storage's flock (LocalStorage) or, over memory, a lock table shared by every
 * CrashingStorage over the same mirror; either way a dead writer's lock is dropped (release still
 * works after the crash, writing nothing), exactly what the kernel does with the flock(2) of a
 * killed process.
 *
 * @module
 */
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import type {
  FileStat,
  ListableStorage,
  ReadOptions,
  Storage,
  StorageLock,
  StorageReader,
  StoredObject,
  WriteData,
  WriteOptions,
} from "../../lib/storage/storage.ts";

/** Thrown by every operation after the simulated death. */
export class SimulatedCrash extends Error {
  override name = "SimulatedCrash";
}

/** Which paths are flocked, per mirror: what the kernel knows. */
export type LockTable = Set<string>;

/** See the module doc. */
export class CrashingStorage implements Storage {
  readonly location: string;
  /** Write/delete/note operations done so far. */
  operations = 0;
  /** What each operation was ("write snapshot.json"), in order. */
  readonly log: string[] = [];
  crashed = false;

  constructor(
    readonly inner: Storage,
    /** `locks`: the kernel's table, for an inner storage without file locks (memory). */
    readonly options: { crashAfter?: number; locks?: LockTable },
  ) {
    this.location = inner.location;
  }

  #alive(): void {
    if (this.crashed) throw new SimulatedCrash("the writer is dead");
  }

  /** Called before a mutating operation: dies instead when the budget is spent. */
  #step(what: string): void {
    this.#alive();
    if (this.operations >= (this.options.crashAfter ?? Infinity)) {
      this.crashed = true;
      throw new SimulatedCrash(`killed before operation ${this.operations + 1} (${what})`);
    }
    this.operations++;
    this.log.push(what);
  }

  stat(path: string): Promise<FileStat> {
    this.#alive();
    return this.inner.stat(path);
  }

  read(path: string, options?: ReadOptions): Promise<StoredObject> {
    this.#alive();
    return this.inner.read(path, options);
  }

  async *list(prefix: string): AsyncIterable<FileStat> {
    this.#alive();
    yield* this.inner.list(prefix);
  }

  async write(path: string, data: WriteData, options?: WriteOptions): Promise<FileStat> {
    this.#step(`write ${path}`);
    return await this.inner.write(path, data, options);
  }

  async delete(path: string): Promise<void> {
    this.#step(`delete ${path}`);
    await this.inner.delete(path);
  }

  async tryLock(path: string): Promise<StorageLock | undefined> {
    this.#alive();
    const held = this.inner.tryLock
      ? await this.inner.tryLock(path)
      : takeFromTable(this.options.locks ?? new Set(), path, this.inner);
    if (!held) return undefined;
    return {
      note: async (text) => {
        this.#step(`note ${path}`);
        await held.note(text);
      },
      // The kernel drops a dead process's flock: release works even after the crash.
      release: () => held.release(),
    };
  }
}

function takeFromTable(locks: LockTable, path: string, inner: Storage): StorageLock | undefined {
  if (locks.has(path)) return undefined;
  locks.add(path);
  let held = true;
  return {
    note: async (text) => {
      await inner.write(path, text);
    },
    // deno-lint-ignore require-await
    release: async () => {
      if (held) locks.delete(path);
      held = false;
    },
  };
}

/** A copy of a mirror (each crash point starts from the same one), in memory or into `to`. */
export async function copyStorage<T extends Storage = MemoryStorage>(
  from: StorageReader & ListableStorage,
  to?: T,
): Promise<T> {
  const target = to ?? new MemoryStorage(from.location);
  for await (const file of from.list("")) {
    const object = await from.read(file.path);
    await target.write(file.path, new Uint8Array(await new Response(object.body).arrayBuffer()));
  }
  return target as T;
}
