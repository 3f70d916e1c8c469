/**
 * Crash recovery for the writer. Every writer transaction first writes its new tarballs and
 * versioned manifests (unreferenced: nothing a client reads changes), then the journal
 * (commit_journal.ts) with the bytes of the new snapshot.json and timestamp.json, then switches
 * those two, then removes the journal. So after a kill at any point, the mirror is either:
 *
 * - without a journal: as before the transaction, plus unreferenced files (rolled back);
 * - with a journal and the old timestamp.json: the switch can be redone from the journal — the
 *   transaction is completed, after checking that every file it needs is in place and that the
 *   result verifies; otherwise it is undone (the old snapshot.json, kept in the journal, goes
 *   back);
 * - with a journal and the new timestamp.json: only the last steps (unsigned copies, removing
 *   the journal) are left, and they are done.
 *
 * What readers see meanwhile: TiUP's snapshot.json is unversioned, so no order of two renames
 * keeps the pair consistent at every instant. snapshot.json goes first, because a TiUP client
 * whose cached snapshot matches the (still old) timestamp does not fetch snapshot.json at all
 * (v1_repository.go updateLocalSnapshot compares hashes): existing clients keep their
 * consistent old view through the gap, and only a client that has never seen this mirror, or
 * whose cache is older, can meet the mismatch and is refused (and retries later) — it never
 * accepts an inconsistent pair, since the snapshot's hash is checked against the timestamp.
 * Timestamp first would instead send every client to the old snapshot with a new timestamp.
 *
 * @module
 */
import { NotFoundError, TooLargeError, UsageError, VerificationError } from "../errors.ts";
import { bodyStream } from "../storage/read_bytes.ts";
import type { FileStat, Storage, StorageReader } from "../storage/storage.ts";
import {
  applyCommitJournal,
  finishCommitJournal,
  liveTimestamp,
  newTimestamp,
  undoCommitJournal,
} from "./_apply_journal.ts";
import {
  type CommitJournal,
  fromBase64,
  readJournal,
  removeJournal,
  undoCreateJournal,
  type WriterJournal,
} from "./commit_journal.ts";
import { hashStream } from "../format/hash.ts";
import { loadRepositoryState } from "../trust/load_verified_state.ts";

/** What recovery did with an interrupted transaction. */
export interface RecoveryResult {
  journal: WriterJournal;
  outcome: "completed" | "rolled-back" | "discarded";
  /** A sentence for the user. */
  message: string;
  warnings: string[];
}

/**
 * Completes or rolls back the transaction an interrupted writer left (see the module doc); a
 * no-op (undefined) when there is none. Call it holding the mirror lock, before reading the
 * mirror's state. A journal that no longer matches the mirror (another tool changed
 * timestamp.json since) is discarded.
 */
export async function recoverInterruptedCommit(
  storage: Storage,
  options: { now?: Date } = {},
): Promise<RecoveryResult | undefined> {
  const journal = await readJournal(storage);
  if (!journal) return undefined;
  const result = (
    outcome: RecoveryResult["outcome"],
    message: string,
    warnings: string[] = [],
  ) => ({
    journal,
    outcome,
    message,
    warnings,
  });
  const live = await liveTimestamp(storage);
  if (journal.kind === "create") {
    if (live !== undefined) {
      await removeJournal(storage);
      return result(
        "completed",
        `Completed the interrupted creation of this mirror (${journal.id})`,
      );
    }
    await undoCreateJournal(storage, journal);
    return result(
      "rolled-back",
      `Removed the files of an interrupted creation of this mirror (${journal.id}, started ${journal.started})`,
    );
  }
  if (live === newTimestamp(journal)) {
    const warnings = await finishCommitJournal(storage, journal);
    return result("completed", `Completed the interrupted commit ${journal.id}`, warnings);
  }
  if (live !== journal.previousTimestamp) {
    await removeJournal(storage);
    return result(
      "discarded",
      `Discarded the journal of the interrupted commit ${journal.id}: timestamp.json has ` +
        `changed since (another tool wrote the mirror)`,
    );
  }
  if (await canComplete(storage, journal, options.now ?? new Date())) {
    const warnings = await applyCommitJournal(storage, journal);
    return result(
      "completed",
      `Completed the interrupted commit ${journal.id} (started ${journal.started})`,
      warnings,
    );
  }
  await undoCommitJournal(storage, journal);
  return result(
    "rolled-back",
    `Rolled back the interrupted commit ${journal.id} (started ${journal.started}): some of its ` +
      `files are missing or do not verify`,
  );
}

/** Every file the commit needs is in place, and the mirror would verify after the switch. */
async function canComplete(storage: Storage, journal: CommitJournal, now: Date): Promise<boolean> {
  for (const file of journal.requires) {
    try {
      const object = await storage.read(file.path);
      if (object.stat.size !== file.length) {
        await bodyStream(object).cancel().catch(() => {});
        return false;
      }
      if ((await hashStream(bodyStream(object))).sha256 !== file.sha256) return false;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }
  try {
    await loadRepositoryState(withSwitch(storage, journal), { now });
    return true;
  } catch (error) {
    if (error instanceof VerificationError || error instanceof UsageError) return false;
    throw error;
  }
}

/** The mirror as it will read once the journal's switch is made. */
function withSwitch(storage: StorageReader, journal: CommitJournal): StorageReader {
  const files = new Map(journal.switch.map((f) => [f.path, fromBase64(f.data)]));
  const statOf = (path: string, bytes: Uint8Array): FileStat => ({
    path,
    size: bytes.length,
    modified: new Date(0),
  });
  return {
    location: storage.location,
    // deno-lint-ignore require-await
    async stat(path) {
      const bytes = files.get(path);
      return bytes ? statOf(path, bytes) : storage.stat(path);
    },
    // deno-lint-ignore require-await
    async read(path, options) {
      const bytes = files.get(path);
      if (!bytes) return storage.read(path, options);
      if (options?.maxBytes !== undefined && bytes.length > options.maxBytes) {
        throw new TooLargeError(path, options.maxBytes);
      }
      return { stat: statOf(path, bytes), body: new Blob([bytes as BlobPart]) };
    },
  };
}
