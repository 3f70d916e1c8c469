import { NotFoundError } from "../../errors.ts";
import type { SigningKey } from "../../format/key_info.ts";
import { MemoryStorage } from "../../storage/memory_storage.ts";
import { bodyStream } from "../../storage/read_bytes.ts";
import type { Storage } from "../../storage/storage.ts";
import { createWithJournal } from "../../writer/commit_journal.ts";
import { initRepository } from "../../writer/init_repository.ts";
import { acquireMirrorLock } from "../../writer/mirror_lock.ts";
import { recoverInterruptedCommit } from "../../writer/recover_interrupted_commit.ts";
import { CLONE_EXPIRY_DAYS } from "./clone_options.ts";

/** Options for {@linkcode createCloneTarget}. */
export interface CreateCloneTargetOptions {
  now: Date;
  generateKey: () => Promise<SigningKey>;
}

/**
 * Makes sure `target` holds a repository a clone can refresh: an existing one is left as it is
 * (its verification is the transaction's), a missing one is created with 3 root keys and one key
 * per other role, all in `<target>/keys` and signed for {@linkcode CLONE_EXPIRY_DAYS} days.
 * Returns whether it was created.
 *
 * Under the writer's lock, after finishing or undoing a commit a killed writer left, so that a
 * creation killed part-way is undone first: the repository is built in memory, then copied keys
 * first and timestamp last under a "create" journal, and a crash part-way is undone by the next
 * run, which starts over (init needs an empty storage; the target may hold the journal and files
 * of an interrupted run).
 */
export async function createCloneTarget(
  target: Storage,
  options: CreateCloneTargetOptions,
): Promise<boolean> {
  const { now } = options;
  const lock = await acquireMirrorLock(target, { now });
  try {
    await recoverInterruptedCommit(target, { now });
    try {
      await target.stat("root.json");
      return false;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    const scratch = new MemoryStorage();
    const days = CLONE_EXPIRY_DAYS;
    const init = await initRepository(scratch, {
      now,
      versionedRoot: true,
      generateKey: options.generateKey,
      expiryDays: { root: days, index: days, snapshot: days, timestamp: days },
    });
    const creates = [...init.keyFiles, ...init.files];
    await createWithJournal(target, { id: "clone", now, creates }, async () => {
      for (const path of init.keyFiles) {
        await target.write(path, bodyStream(await scratch.read(path)), { mode: 0o600 });
      }
      for (const path of init.files) {
        await target.write(path, bodyStream(await scratch.read(path)));
      }
    });
    return true;
  } finally {
    await lock.release();
  }
}
