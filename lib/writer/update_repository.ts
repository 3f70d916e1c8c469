import type { Storage } from "../storage/storage.ts";
import { fenced } from "./fenced_storage.ts";
import { commitChange, type CommitProgress, type CommitResult } from "./_commit_change.ts";
import { acquireMirrorLock, type MirrorLockOptions } from "./mirror_lock.ts";
import type { KeyLocation } from "./repo_keys.ts";
import { MIRROR_KEYS_PREFIX } from "../format/repo_defaults.ts";
import type { ChangeExpiry, RepositoryChange } from "./repository_change.ts";
import { loadRepositoryState, type RepositoryState } from "../trust/load_verified_state.ts";
import { recoverInterruptedCommit } from "./recover_interrupted_commit.ts";

export type { CommitProgress } from "./_commit_change.ts";

/**
 * Builds a transaction from the verified current state (may read more, e.g. a component);
 * `undefined` when the state already says everything: then nothing is written.
 */
export type PlanChange = (
  state: RepositoryState,
) => RepositoryChange | undefined | Promise<RepositoryChange | undefined>;

/** Options for {@linkcode updateRepository}. */
export interface UpdateRepositoryOptions {
  /** The clock (default: the real one). Every expiry and `released` derives from it. */
  now?: Date;
  /** Where the index/snapshot/timestamp private keys are (default: `<mirror>/keys/`). */
  keys?: KeyLocation;
  /** Snapshot/timestamp life (default 30 days each, never shortened). */
  expiry?: ChangeExpiry;
  /** Copy the transaction into commits/ as TiUP does (default true). */
  commitLog?: boolean;
  lock?: Omit<MirrorLockOptions, "now">;
  onProgress?: (event: CommitProgress) => void;
}

/** What a transaction did. */
export interface UpdateResult extends CommitResult {
  /** The state the transaction was built on. */
  before: RepositoryState;
  /**
   * Things that did not stop the write but that the user should know, e.g. the root is expired
   * (clients refuse the mirror until `ferry mirror rotate`).
   */
  warnings: string[];
}

/**
 * Runs one writer transaction on a mirror: takes the lock, completes or rolls back a transaction
 * a killed writer left (recover_interrupted_commit.ts), loads and verifies the current state
 * with the mirror's own root (a mirror that does not verify is refused before anything is
 * written), lets `plan` build the change, then signs and writes it in order (tarballs →
 * component manifests → root → index → snapshot → timestamp → commits/). The lock is released
 * in all cases. Expired snapshot/timestamp/index/components do not stop it: the transaction
 * renews the snapshot and timestamp (30 days by default, see `expiry`) and re-signs an expired
 * index; only signatures, hashes, lengths and versions must verify. An expired root is reported in
 * `warnings` (only a rotation fixes it).
 */
export async function updateRepository(
  unfenced: Storage,
  plan: PlanChange,
  options: UpdateRepositoryOptions = {},
): Promise<UpdateResult> {
  const now = options.now ?? new Date();
  const lock = await acquireMirrorLock(unfenced, { ...options.lock, now });
  // A lock that can be lost (a lease) is checked before every write, and proven on the server
  // before the timestamp, the write that makes the transaction visible.
  const storage = lock.fence ? fenced(unfenced, lock.fence) : unfenced;
  try {
    const recovered = await recoverInterruptedCommit(storage, { now });
    const before = await loadRepositoryState(storage, { now });
    const change = await plan(before);
    const result = change
      ? await commitChange(storage, change, {
        state: before,
        now,
        keys: options.keys ?? { storage, prefix: MIRROR_KEYS_PREFIX },
        ...(options.expiry ? { expiry: options.expiry } : {}),
        ...(options.commitLog !== undefined ? { commitLog: options.commitLog } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      })
      : { files: [], timestampVersion: before.timestamp.manifest.signed.version, warnings: [] };
    const warnings: string[] = [
      ...(recovered ? [recovered.message, ...recovered.warnings] : []),
      ...result.warnings,
    ];
    const rootExpired = change?.root
      ? undefined
      : before.expired.find((e) => e.file.endsWith(`/${before.root.path}`));
    if (rootExpired) {
      warnings.push(
        `"${rootExpired.file}" expired at ${rootExpired.expires}: clients refuse this mirror until ` +
          `you rotate the root ("ferry mirror rotate --prepare")`,
      );
    }
    return { ...result, before, warnings };
  } finally {
    await lock.release();
  }
}
