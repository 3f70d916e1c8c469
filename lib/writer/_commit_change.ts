/**
 * The writer's commit step (folder-private): signs what a planner built and checks it the way a
 * client will (_sign_change.ts, in memory, before the first write, so bad input leaves the
 * mirror untouched), then writes it in TiUP's order: tarballs → component manifests → root →
 * index → (journal, commits/ copy) → snapshot → timestamp.
 *
 * Crash safety: the versioned files are written first (nothing a client reads refers to them
 * yet), then the journal `commits/pending.json` with the bytes of the new snapshot.json and
 * timestamp.json, then the commits/ copy — before anything goes live, so a full disk there fails
 * the command with the mirror unchanged —, then the switch of the two unversioned files, then
 * the journal is removed. A crash before the journal leaves only unreferenced files (rolled
 * back); after it, the next writer completes the commit from the journal
 * (recover_interrupted_commit.ts, which also explains why snapshot.json goes before
 * timestamp.json).
 *
 * @module
 */
import { HashMismatchError, NotFoundError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import { bodyStream } from "../storage/read_bytes.ts";
import { applyCommitJournal } from "./_apply_journal.ts";
import { newCommitDir } from "./commit_log.ts";
import { type CommitJournal, type JournalFile, toBase64, writeJournal } from "./commit_journal.ts";
import { hashingStream, hashStream, sha256Hex } from "../format/hash.ts";
import { formatRfc3339 } from "../format/rfc3339.ts";
import type { KeyLocation } from "./repo_keys.ts";
import type { ChangeExpiry, RepositoryChange, TarballUpload } from "./repository_change.ts";
import type { RepositoryState } from "../trust/load_verified_state.ts";
import { latestStable } from "../format/latest_stable.ts";
import { urlToPath } from "../format/versioned_name.ts";
import { type PlannedFile, signChange, type SignedChange } from "./_sign_change.ts";

/** A step of a commit, for progress reporting. */
export interface CommitProgress {
  phase: "write" | "commit-log";
  path: string;
}

/** Options for {@linkcode commitChange}. */
export interface CommitChangeOptions {
  /** The verified state the change was built on. */
  state: RepositoryState;
  now: Date;
  keys: KeyLocation;
  expiry?: ChangeExpiry;
  /** Copy the transaction into commits/ (TiUP does; default true). */
  commitLog?: boolean;
  onProgress?: (event: CommitProgress) => void;
}

/** What a commit wrote. */
export interface CommitResult {
  /** Storage paths written to the mirror root, in write order. */
  files: string[];
  /** The commits/commit-<unixnano> directory, when written. */
  commitDir?: string;
  timestampVersion: number;
  /** Steps after the switch that failed without failing the commit (installer copies). */
  warnings: string[];
}

/** Signs, checks and writes a change on top of `state`; see the module doc. */
export async function commitChange(
  storage: Storage,
  change: RepositoryChange,
  options: CommitChangeOptions,
): Promise<CommitResult> {
  // Nothing before the first write touches the mirror; nothing before the switch changes what
  // clients read.
  const signed = await signChange(storage, change, options);
  const { written, requires } = await writeVersionedFiles(storage, change, signed.files, options);
  const copies = installerCopies(change);
  const commitDir = await commitDirFor(storage, options);
  const journal = commitJournal(options, { signed, written, requires, copies, commitDir });
  await writeJournal(storage, journal);
  if (journal.log) options.onProgress?.({ phase: "commit-log", path: `${commitDir}/` });
  options.onProgress?.({ phase: "write", path: "snapshot.json" });
  options.onProgress?.({ phase: "write", path: "timestamp.json" });
  const warnings = await applyCommitJournal(storage, journal);
  return {
    files: [...written, "snapshot.json", "timestamp.json", ...copies.map((copy) => copy.to)],
    ...(journal.log ? { commitDir } : {}),
    timestampVersion: signed.timestampVersion,
    warnings,
  };
}

/**
 * The versioned files, in order: tarballs, then component manifests, the root and the index
 * (nothing a client reads refers to them yet). Returns what was written and what the journal
 * must find in place before it may switch.
 */
async function writeVersionedFiles(
  storage: Storage,
  change: RepositoryChange,
  files: PlannedFile[],
  options: CommitChangeOptions,
): Promise<{ written: string[]; requires: JournalFile[] }> {
  const written: string[] = [];
  const requires: JournalFile[] = [];
  for (const tarball of change.tarballs ?? []) {
    options.onProgress?.({ phase: "write", path: tarball.path });
    await writeTarball(storage, tarball);
    written.push(tarball.path);
    requires.push({ path: tarball.path, length: tarball.length, sha256: tarball.sha256 });
  }
  for (const file of files) {
    options.onProgress?.({ phase: "write", path: file.path });
    await storage.write(file.path, file.bytes, { ifAbsent: file.ifAbsent });
    written.push(file.path);
    requires.push({ path: file.path, length: file.bytes.length, sha256: sha256Hex(file.bytes) });
  }
  return { written, requires };
}

/** A fresh commits/commit-<unixnano> directory, or just the name when no copy is kept. */
async function commitDirFor(storage: Storage, options: CommitChangeOptions): Promise<string> {
  const { now } = options;
  return options.commitLog !== false
    ? await newCommitDir(storage, { now })
    : `commit-${BigInt(now.getTime()) * 1_000_000n}`;
}

/**
 * The journal that makes the switch recoverable: what must be in place, the commits/ copy to
 * make, the new snapshot.json and timestamp.json, and the installer copies after them.
 */
function commitJournal(
  options: CommitChangeOptions,
  parts: {
    signed: SignedChange;
    written: string[];
    requires: JournalFile[];
    copies: Array<{ from: string; to: string }>;
    commitDir: string;
  },
): CommitJournal {
  const { state, now } = options;
  const { signed, written, copies, commitDir } = parts;
  const logFiles = [
    ...written.map((path) => ({ name: path.slice(path.lastIndexOf("/") + 1), from: path })),
    ...copies.map((copy) => ({ name: copy.to, from: copy.from })),
  ];
  return {
    format: "ferry-journal-1",
    kind: "commit",
    id: commitDir.slice(commitDir.lastIndexOf("/") + 1),
    started: formatRfc3339(now),
    previousTimestamp: sha256Hex(state.timestamp.manifest.fileBytes),
    previousSnapshot: toBase64(state.snapshot.manifest.fileBytes),
    requires: parts.requires,
    ...(options.commitLog !== false ? { log: { dir: commitDir, files: logFiles } } : {}),
    switch: [
      { path: "snapshot.json", data: toBase64(signed.snapshotBytes) },
      { path: "timestamp.json", data: toBase64(signed.timestampBytes) },
    ],
    after: copies,
  };
}

/** Components whose latest tarball also lives at `<id>-<os>-<arch>.tar.gz`, for install scripts. */
const INSTALLER_COMPONENTS = new Set(["tiup", "ferry"]);

/**
 * TiUP's copyTiUP (TIUP-FORMAT.md §7): publishing the `tiup` component also places its tarball
 * at `tiup-<os>-<arch>.tar.gz`, where install.sh and local_install.sh look for it; ferry does the
 * same for its own `ferry` component. Only a tarball that is now the latest stable version on its
 * platform is copied, so publishing an older patch never downgrades the installer. The copies are
 * made from the tarball just written, after the timestamp: they are unsigned conveniences, and
 * the signed manifests that vouch for the same bytes are in place first.
 */
function installerCopies(change: RepositoryChange): Array<{ from: string; to: string }> {
  const copies: Array<{ from: string; to: string }> = [];
  const byPath = new Map((change.tarballs ?? []).map((t) => [t.path, t]));
  for (const { manifest } of change.components ?? []) {
    if (!INSTALLER_COMPONENTS.has(manifest.id)) continue;
    for (const [platform, versions] of Object.entries(manifest.platforms)) {
      const [os, arch] = platform.split("/");
      if (!os || !arch || os === "any") continue;
      const latest = latestStable(versions);
      const item = latest === undefined ? undefined : versions[latest];
      const tarball = item ? byPath.get(urlToPath(item.url)) : undefined;
      if (tarball) copies.push({ from: tarball.path, to: `${manifest.id}-${os}-${arch}.tar.gz` });
    }
  }
  return copies;
}

/**
 * Writes a tarball, hashing it as it streams. An existing file with the same sha256 is kept as
 * is (a retried publish); the bytes must hash to what the manifest says (TiUP's
 * ErrorWrongChecksum), else HashMismatchError. A tarball the storage already holds (`stored`,
 * hashed when it was stored) is given its path by the backend's copy, with no second pass over
 * its bytes; see {@linkcode placeStoredTarball}.
 */
async function writeTarball(storage: Storage, tarball: TarballUpload): Promise<void> {
  try {
    const existing = await storage.read(tarball.path);
    if (existing.stat.size === tarball.length) {
      const digest = await hashStream(bodyStream(existing));
      if (digest.sha256 === tarball.sha256) return;
    } else {
      await bodyStream(existing).cancel().catch(() => {});
    }
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  if (tarball.stored && storage.copy) {
    await placeStoredTarball(storage as Storage & Required<Pick<Storage, "copy">>, tarball);
    return;
  }
  const hashing = hashingStream(["sha256"]);
  const source = await tarball.open();
  await storage.write(tarball.path, source.pipeThrough(hashing.stream));
  const { sha256: digest, length } = await hashing.digest;
  if (digest !== tarball.sha256 || length !== tarball.length) {
    throw new HashMismatchError(
      `Cannot publish "${tarball.path}": it changed while it was being written (sha256 ${
        digest.slice(0, 16)
      }…, expected ${tarball.sha256.slice(0, 16)}…)`,
    );
  }
}

/**
 * Gives `tarball.path` the bytes of `tarball.stored` through `Storage.copy` (a hard link on
 * local disk: a 2 GB upload is written once, and the server's memory never sees it again). Its
 * hashes were taken as it was stored; what is checked here is that it is still that object —
 * same identity where the backend has one, same length — before and after the copy, so bytes
 * that changed since they were hashed are refused (HashMismatchError) rather than published.
 */
async function placeStoredTarball(
  storage: Storage & Required<Pick<Storage, "copy">>,
  tarball: TarballUpload,
): Promise<void> {
  const stored = tarball.stored!;
  const changed = (why: string) =>
    new HashMismatchError(
      `Cannot publish "${tarball.path}": its stored copy "${stored.path}" ${why} since it was hashed`,
    );
  const before = await storage.stat(stored.path);
  if (stored.identity !== undefined && before.identity !== stored.identity) {
    throw changed("was replaced or modified");
  }
  if (before.size !== tarball.length) {
    throw changed(`is ${before.size} bytes, not ${tarball.length}`);
  }
  const placed = await storage.copy(stored.path, tarball.path);
  if (placed.size !== tarball.length) throw changed(`became ${placed.size} bytes`);
}
