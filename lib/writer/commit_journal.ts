/**
 * The writer's journal, `commits/pending.json`: the record of a transaction that is going live,
 * written (atomically, durably) before any file a client reads changes, and removed when the
 * transaction is complete. While it exists, the next writer completes or rolls back that
 * transaction before doing anything else (recover_interrupted_commit.ts), and `ferry mirror
 * verify` reports it. It holds only public data — paths, hashes and the new signed
 * snapshot.json/timestamp.json — so it is safe in a served mirror.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { NotFoundError, VerificationError } from "../errors.ts";
import { readText } from "../storage/read_bytes.ts";
import type { Storage, StorageReader } from "../storage/storage.ts";
import { COMMITS_PREFIX } from "./commit_log.ts";
import { formatRfc3339 } from "../format/rfc3339.ts";

/** Where the journal is. */
export const JOURNAL_PATH = `${COMMITS_PREFIX}pending.json`;

const FORMAT = "ferry-journal-1";

/** A file the journal expects in place: its path, length and sha256. */
export interface JournalFile {
  path: string;
  length: number;
  sha256: string;
}

/**
 * A commit on an existing mirror. Its new tarballs and versioned manifests (`requires`) are in
 * place before the journal is written; the journal carries the bytes of the two unversioned
 * files that switch the mirror over, so the switch can always be redone.
 */
export interface CommitJournal {
  format: typeof FORMAT;
  kind: "commit";
  /** The commit's name, `commit-<unixnano>`; also its commits/ directory when logged. */
  id: string;
  started: string;
  /** timestamp.json before the commit (sha256): the state the switch applies to. */
  previousTimestamp: string;
  /** snapshot.json before the commit (base64), to undo a half-made switch. */
  previousSnapshot: string;
  /** Files written before the journal that the new manifests name. */
  requires: JournalFile[];
  /** The commit-log directory to fill before the switch (absent: no commit log). */
  log?: { dir: string; files: Array<{ name: string; from: string }> };
  /** The switch, in order: snapshot.json then timestamp.json (base64 bytes). */
  switch: Array<{ path: string; data: string }>;
  /** Unsigned copies made after the switch (installer tarballs): from a mirror path to another. */
  after: Array<{ from: string; to: string }>;
}

/**
 * A new mirror being created (init, a clone's first run). Nothing is live until its last file
 * (timestamp.json) is written, so an interrupted creation is undone: every listed path is removed.
 */
export interface CreateJournal {
  format: typeof FORMAT;
  kind: "create";
  id: string;
  started: string;
  /** Every path of this storage the creation writes, timestamp.json last. */
  creates: string[];
}

/** What a journal can hold. */
export type WriterJournal = CommitJournal | CreateJournal;

/** Reads the journal: undefined when there is none; VerificationError when it is not one. */
export async function readJournal(storage: StorageReader): Promise<WriterJournal | undefined> {
  let text: string;
  try {
    text = await readText(storage, JOURNAL_PATH, { maxBytes: 64 * 1024 * 1024 });
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  let journal: Partial<WriterJournal> | undefined;
  try {
    journal = JSON.parse(text);
  } catch {
    // reported below
  }
  if (
    journal?.format !== FORMAT || typeof journal.id !== "string" ||
    !(journal.kind === "commit" && Array.isArray(journal.switch) &&
        Array.isArray(journal.requires) && Array.isArray(journal.after) &&
        typeof journal.previousSnapshot === "string" ||
      journal.kind === "create" && Array.isArray(journal.creates))
  ) {
    throw new VerificationError(
      `Cannot use "${where(storage)}": it is not a ferry writer journal; if no ferry writer ` +
        `was interrupted on this mirror, remove it`,
    );
  }
  return journal as WriterJournal;
}

/** Writes the journal (atomic and durable, like every storage write). */
export async function writeJournal(storage: Storage, journal: WriterJournal): Promise<void> {
  await storage.write(JOURNAL_PATH, JSON.stringify(journal, null, 1));
}

/** Removes the journal: the transaction is complete or undone. */
export async function removeJournal(storage: Storage): Promise<void> {
  await storage.delete(JOURNAL_PATH).catch((error) => {
    if (!(error instanceof NotFoundError)) throw error;
  });
}

/**
 * Creates a mirror's files under a "create" journal: `write` must write exactly the `creates`
 * paths, timestamp.json last. If it fails, whatever it wrote is removed again.
 */
export async function createWithJournal(
  storage: Storage,
  plan: { id: string; now: Date; creates: string[] },
  write: () => Promise<void>,
): Promise<void> {
  const journal: CreateJournal = {
    format: FORMAT,
    kind: "create",
    id: plan.id,
    started: formatRfc3339(plan.now),
    creates: plan.creates,
  };
  await writeJournal(storage, journal);
  try {
    await write();
  } catch (error) {
    await undoCreateJournal(storage, journal).catch(() => {});
    throw error;
  }
  await removeJournal(storage);
}

/** Undoes an interrupted creation: timestamp.json first, so nothing looks like a mirror. */
export async function undoCreateJournal(storage: Storage, journal: CreateJournal): Promise<void> {
  for (const path of [...journal.creates].reverse()) {
    await storage.delete(path).catch(ignoreNotFound);
  }
  await removeJournal(storage);
}

/** Base64 of bytes, for the journal. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

/** Bytes of journal base64. */
export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}

function where(storage: StorageReader): string {
  return `${storage.location.replace(/\/+$/, "")}/${JOURNAL_PATH}`;
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof NotFoundError)) throw error;
}
