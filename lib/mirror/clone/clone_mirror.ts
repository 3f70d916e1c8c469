/**
 * `cloneMirror()`: a short composition of the clone's phases, each its own module:
 *
 * 1. trust: the source verified as a client verifies it (_clone_trust.ts, the only module that
 *    calls lib/trust);
 * 2. target: created when missing (create_clone_target.ts); then, in ONE writer transaction
 *    (updateRepository, which verifies the target once with its own root, under the lock):
 * 3. plan (pure): which components (clone_component_ids.ts), platforms (choose_platforms.ts)
 *    and builds (plan_clone.ts);
 * 4. transfer: verified downloads and in-place checks (transfer_clone_files.ts), ferry's own
 *    builds (pack_self_binaries.ts);
 * 5. build (pure, once): component manifests and index (build_clone_manifests.ts), then the
 *    `ferry-<os>-<arch>.tar.gz` copies (client_copy_tasks.ts); the transaction commits them;
 * 6. install scripts (write_install_scripts.ts).
 *
 * @module
 */
import type { SigningKey } from "../../format/key_info.ts";
import { generateSigningKey } from "../../format/generate_key.ts";
import { addDays, formatRfc3339 } from "../../format/rfc3339.ts";
import type { RepositoryChange } from "../../writer/repository_change.ts";
import { updateRepository } from "../../writer/update_repository.ts";
import { UsageError } from "../../errors.ts";
import type { Storage, StorageReader } from "../../storage/storage.ts";
import {
  loadTargetComponents,
  openTrustedSource,
  type TargetState,
  type TrustedSource,
} from "./_clone_trust.ts";
import { buildCloneManifests, type CloneManifests } from "./build_clone_manifests.ts";
import { choosePlatforms } from "./choose_platforms.ts";
import { clientCopyTasks } from "./client_copy_tasks.ts";
import { cloneComponentIds } from "./clone_component_ids.ts";
import {
  CLONE_EXPIRY_DAYS,
  type ClonedComponent,
  type CloneOptions,
  type CloneReport,
} from "./clone_options.ts";
import { cloneOwnerKey } from "./clone_owner_key.ts";
import { copyWithinTarget } from "./copy_within_target.ts";
import { createCloneTarget } from "./create_clone_target.ts";
import type { DownloadOptions, DownloadReport, FileTask } from "./download_files.ts";
import { packSelfBinaries } from "./pack_self_binaries.ts";
import { type ClonePlan, planClone } from "./plan_clone.ts";
import { type CloneTransfer, transferCloneFiles } from "./transfer_clone_files.ts";
import { openVerifiedJournal, type VerifiedJournal } from "./verified_journal.ts";
import { writeInstallScripts } from "./write_install_scripts.ts";

export {
  CLONE_EXPIRY_DAYS,
  CLONE_OWNER_ID,
  type ClonedComponent,
  type CloneOptions,
  type CloneReport,
  DEFAULT_CLONE_ARCH,
  DEFAULT_CLONE_OS,
  type SelfBinaryOptions,
} from "./clone_options.ts";

/**
 * Clones `source` into `target` as a new signed repository (TIUP-FORMAT.md §6.1, ferry's
 * refresh-safe version):
 *
 * - the source is verified as a client verifies it (the verifier's MirrorUpdater: root chain,
 *   timestamp, snapshot, index, every component against its owner, expiry and rollback), from
 *   `trustedRoot` or the source's own root.json; every tarball is checked against its signed
 *   length and SHA-256 while it streams, before it becomes visible;
 * - the target keeps its keys across runs (TiUP re-keys and strands every client, #2018): a
 *   first run creates a repository (3 root keys, one per other role, and the owner `pingcap`,
 *   all in `<target>/keys`, signed for 50 years), later runs verify it with its own root and
 *   sign with the same keys;
 * - component manifests are re-signed by the target's owner, listing unselected versions as
 *   yanked; versions the target carried before stay usable; a refresh bumps component, index
 *   and timestamp versions only where something changed, so clients that trust the earlier
 *   clone accept the new one, and a refresh that finds nothing new writes no manifest;
 * - files already in place are not fetched again (#1704), a 404 does not stop the rest (#1111);
 * - manifests are written last, through the writer's transaction (components → index →
 *   snapshot → timestamp), so a crash leaves the previous consistent state; the whole run
 *   after the source's verification is that one transaction, so the target is verified once,
 *   under the writer's lock, and no other writer changes it between plan and commit;
 * - `tiup-<os>-<arch>.tar.gz` is carried when it matches a signed tiup version, the `self` binary
 *   is published as the `ferry` component, and `local_install.sh` and `install.sh` are written.
 *
 * Throws UsageError for bad requests (an unknown component, a version that matches nothing) and
 * VerificationError when the source or an existing target does not verify; nothing is written
 * to the target's manifests then.
 */
export async function cloneMirror(
  source: StorageReader,
  target: Storage,
  options: CloneOptions = {},
): Promise<CloneReport> {
  const now = options.now ?? new Date();
  const trusted = await openTrustedSource(source, options, now);
  for (const name of Object.keys(options.components ?? {})) {
    if (!Object.hasOwn(trusted.index.components, name)) {
      throw new UsageError(
        `Cannot clone component "${name}": the source mirror "${source.location}" has no such component`,
      );
    }
  }
  const generateKey = options.generateKey ?? (async () => (await generateSigningKey()).key);
  const created = await createCloneTarget(target, { now, generateKey });
  let run: CloneRun | undefined;
  const update = await updateRepository(target, async (state) => {
    run = await runInTransaction(state, { source, target, trusted, options, now, generateKey });
    return run.change;
  }, {
    now,
    commitLog: false,
    expiry: { snapshotDays: CLONE_EXPIRY_DAYS, timestampDays: CLONE_EXPIRY_DAYS },
  });
  const done = run!;
  await writeInstallScripts(
    target,
    [...done.plan.tiupTasks, ...done.clientTasks].map((t) => t.path),
    {
      journal: done.journal,
      publicUrl: options.publicUrl,
    },
  );
  return {
    created,
    ...transferReport(done.transfer, done.copies),
    components: componentSummaries(done.built),
    changed: done.built.changed,
    timestampVersion: update.timestampVersion,
    notes: [...trusted.notes, ...done.plan.notes, ...done.transfer.notes, ...update.warnings],
    packed: done.packed,
    ferryMissing: done.plan.ferryMissing,
  };
}

/** What the transaction's part of a clone did. */
interface CloneRun {
  plan: ClonePlan;
  transfer: CloneTransfer;
  copies: DownloadReport;
  clientTasks: FileTask[];
  packed: string[];
  built: CloneManifests;
  journal: VerifiedJournal;
  /** What to commit; undefined when the target already says it all. */
  change: RepositoryChange | undefined;
}

interface RunContext {
  source: StorageReader;
  target: Storage;
  trusted: TrustedSource;
  options: CloneOptions;
  now: Date;
  generateKey: () => Promise<SigningKey>;
}

/** Plan → transfer → build on the target's verified `state`, inside the writer's lock. */
async function runInTransaction(state: TargetState, context: RunContext): Promise<CloneRun> {
  const { source, target, trusted, options, now, generateKey } = context;
  const targetIndex = state.index.manifest.signed;
  const ownerKey = await cloneOwnerKey(target, targetIndex, generateKey);
  const { wanted, ours } = cloneComponentIds(trusted.index, targetIndex, options);
  const [upstream, previous] = await Promise.all([
    trusted.components(wanted, options.jobs),
    loadTargetComponents(target, state, ours, options.jobs),
  ]);
  const platforms = choosePlatforms(options, upstream);
  const ids = [...new Set([...wanted, ...ours])];
  const plan = planClone({ upstream, previous, ids, platforms, options });

  const journal = await openVerifiedJournal(target);
  const transferOptions = downloadOptions(options, journal);
  const transfer = await transferCloneFiles(source, target, plan, {
    ...transferOptions,
    noTarballs: options.noTarballs === true,
  });
  const self = options.self && plan.selfBinaries.size > 0
    ? await packSelfBinaries(target, plan.selfBinaries, {
      self: options.self,
      now,
      journal,
      previous: previous.get("ferry"),
    })
    : undefined;

  const expires = formatRfc3339(addDays(now, CLONE_EXPIRY_DAYS));
  const built = buildCloneManifests({
    sourceIndex: trusted.index,
    upstream,
    targetIndex,
    previous,
    carried: transfer.carried,
    kept: transfer.kept,
    extra: new Map(self ? [["ferry", self.items]] : []),
    ownerKey,
    expires,
  });
  const clientTasks = options.noTarballs
    ? []
    : clientCopyTasks(built.components.get("ferry")?.signed, platforms);
  const copies = await copyWithinTarget(target, clientTasks, {
    ...transferOptions,
    onProgress: () => {},
  });
  await journal.save();
  const change = built.changed ? cloneChange(built, ownerKey) : undefined;
  return {
    plan,
    transfer,
    copies,
    clientTasks,
    packed: self?.packed ?? [],
    built,
    journal,
    change,
  };
}

/** How the clone's transfers run: its jobs, overwrite, progress and signal, and the journal. */
function downloadOptions(options: CloneOptions, journal: VerifiedJournal): DownloadOptions {
  return {
    ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
    ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
    journal,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** The writer's change: the changed components, signed by the clone's owner, and the index. */
function cloneChange(built: CloneManifests, ownerKey: SigningKey): RepositoryChange {
  return {
    components: [...built.components.values()].filter((c) => c.changed).map((c) => ({
      manifest: c.signed,
      keys: [ownerKey],
    })),
    ...(built.index ? { index: built.index } : {}),
  };
}

function transferReport(transfer: CloneTransfer, copies: DownloadReport) {
  const { fetched } = transfer;
  return {
    downloaded: [...fetched.downloaded, ...copies.downloaded].sort(),
    skipped: fetched.skipped,
    missing: fetched.missing.filter((p) => !transfer.ignoredMissing.has(p)),
    conflicts: fetched.conflicts,
    failed: [...fetched.failed, ...copies.failed],
    bytes: fetched.bytes,
  };
}

function componentSummaries(built: CloneManifests): ClonedComponent[] {
  return [...built.components.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map((
    [id, c],
  ) => ({
    id,
    versions: Object.values(c.signed.platforms)
      .reduce((n, v) => n + Object.values(v).filter((i) => !i.yanked).length, 0),
    changed: c.changed,
  }));
}
