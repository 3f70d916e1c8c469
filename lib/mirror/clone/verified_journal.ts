import { readText } from "../../storage/read_bytes.ts";
import type { FileStat, Storage } from "../../storage/storage.ts";

/** Where a clone target keeps its journal; dotfiles are never served by `ferry mirror serve`. */
export const JOURNAL_PATH = ".ferry-staging/verified.json";

/**
 * The SHA-256 of files already verified in a mirror directory, keyed by path and trusted only
 * while the file's size and modification time are unchanged (as git's index trusts stat data).
 * It lets a refresh skip re-hashing gigabytes it verified before.
 */
export interface VerifiedJournal {
  /** The recorded SHA-256 of this file when its size and mtime still match; else undefined. */
  lookup(stat: FileStat | undefined): string | undefined;
  /** Records that the file as described by `stat` has this SHA-256. */
  record(stat: FileStat, sha256: string): void;
  /** Writes the journal atomically when something changed since the last save. */
  save(): Promise<void>;
}

interface Entry {
  size: number;
  mtime: number;
  sha256: string;
}

/**
 * Opens (or starts) the journal of `storage`. An unreadable or malformed journal is treated as
 * empty: it is only a cache, and a miss merely costs a re-hash.
 */
export async function openVerifiedJournal(
  storage: Storage,
  path = JOURNAL_PATH,
): Promise<VerifiedJournal> {
  const entries = new Map<string, Entry>();
  try {
    const parsed = JSON.parse(await readText(storage, path, { maxBytes: 64 * 2 ** 20 }));
    for (const [file, entry] of Object.entries(parsed?.files ?? {})) {
      const { size, mtime, sha256 } = entry as Entry;
      if (
        Number.isSafeInteger(size) && Number.isFinite(mtime) && typeof sha256 === "string" &&
        /^[0-9a-f]{64}$/.test(sha256)
      ) {
        entries.set(file, { size, mtime, sha256 });
      }
    }
  } catch {
    // Missing, unreadable or malformed: start empty (it is only a cache).
  }
  let dirty = false;
  let saving: Promise<void> = Promise.resolve();
  return {
    lookup(stat) {
      if (!stat) return undefined;
      const entry = entries.get(stat.path);
      if (!entry) return undefined;
      return entry.size === stat.size && entry.mtime === stat.modified.getTime()
        ? entry.sha256
        : undefined;
    },
    record(stat, sha256) {
      entries.set(stat.path, { size: stat.size, mtime: stat.modified.getTime(), sha256 });
      dirty = true;
    },
    save() {
      // Saves are chained so two concurrent callers never interleave their renames.
      saving = saving.then(async () => {
        if (!dirty) return;
        dirty = false;
        const files = Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : 1)));
        await storage.write(path, JSON.stringify({ files }));
      });
      return saving;
    },
  };
}
