/**
 * Carrying out a writer journal (folder-private): the same steps run for the writer that wrote
 * the journal and for the next writer after a crash, so a crash at any step is finished by
 * running the rest. See commit_journal.ts for what a journal holds.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { copyObject } from "../storage/copy_object.ts";
import { readBytes } from "../storage/read_bytes.ts";
import type { Storage } from "../storage/storage.ts";
import { copyIntoCommitLog } from "./commit_log.ts";
import { type CommitJournal, fromBase64, removeJournal } from "./commit_journal.ts";
import { sha256Hex } from "../format/hash.ts";

/**
 * Completes a commit whose journal is written and whose `requires` are in place: fills the
 * commit log, switches snapshot.json then timestamp.json, makes the unsigned copies and removes
 * the journal. A failure before timestamp.json is in place undoes the commit (the mirror is as it
 * was, the error is rethrown); if even the undo fails, the journal stays for the next writer.
 * Failures after the switch do not fail the commit: they come back as warnings.
 */
export async function applyCommitJournal(
  storage: Storage,
  journal: CommitJournal,
): Promise<string[]> {
  try {
    if (journal.log) {
      await copyIntoCommitLog(storage, journal.log.dir, [
        ...journal.log.files,
        ...journal.switch.map((file) => ({ name: file.path, bytes: fromBase64(file.data) })),
      ]);
    }
    for (const file of journal.switch) await storage.write(file.path, fromBase64(file.data));
  } catch (error) {
    const live = await liveTimestamp(storage).catch(() => "unreadable");
    if (live !== newTimestamp(journal)) {
      // Not live: undo it, unless the mirror cannot even be read (the next writer will).
      if (live === journal.previousTimestamp) {
        await undoCommitJournal(storage, journal).catch(() => {});
      }
      throw error;
    }
  }
  return await finishCommitJournal(storage, journal);
}

/** The steps after the switch: unsigned copies, then the journal removed. */
export async function finishCommitJournal(
  storage: Storage,
  journal: CommitJournal,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const copy of journal.after) {
    try {
      await copyObject(storage, copy.from, copy.to);
    } catch (error) {
      warnings.push(
        `Cannot update "${copy.to}" (${(error as Error).message}); the commit itself is ` +
          `complete, and the next publish of that component writes it again`,
      );
    }
  }
  try {
    await removeJournal(storage);
  } catch (error) {
    warnings.push(`Cannot remove the writer's journal (${(error as Error).message})`);
  }
  return warnings;
}

/**
 * Undoes a commit that is not live (timestamp.json is still the one it was built on): puts the
 * previous snapshot.json back if the switch got that far, removes the commit-log copy and the
 * journal. The commit's new versioned files stay, unreferenced (the next commit skips their
 * version numbers).
 */
export async function undoCommitJournal(storage: Storage, journal: CommitJournal): Promise<void> {
  const previous = fromBase64(journal.previousSnapshot);
  const live = await readBytes(storage, "snapshot.json").catch(() => undefined);
  if (!live || sha256Hex(live) !== sha256Hex(previous)) {
    await storage.write("snapshot.json", previous);
  }
  if (journal.log) {
    const names = [...journal.log.files.map((f) => f.name), ...journal.switch.map((f) => f.path)];
    // timestamp.json first: without it the directory no longer looks like a complete commit.
    const ordered = [
      ...names.filter((n) => n === "timestamp.json"),
      ...names.filter((n) => n !== "timestamp.json"),
    ];
    for (const name of ordered) {
      await storage.delete(`${journal.log.dir}/${name}`).catch(ignoreNotFound);
    }
  }
  await removeJournal(storage);
}

/** sha256 of the live timestamp.json, or undefined when there is none. */
export async function liveTimestamp(storage: Storage): Promise<string | undefined> {
  try {
    return sha256Hex(await readBytes(storage, "timestamp.json", { maxBytes: 1024 * 1024 }));
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/** sha256 of the timestamp.json the commit switches to. */
export function newTimestamp(journal: CommitJournal): string | undefined {
  const file = journal.switch.find((f) => f.path === "timestamp.json");
  return file ? sha256Hex(fromBase64(file.data)) : undefined;
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof NotFoundError)) throw error;
}
