/**
 * The writer's commit step (folder-private): signs what a planner built, checks it the way a
 * client will, and writes it in TiUP's order: tarballs → component manifests → root → index →
 * (journal, commits/ copy) → snapshot → timestamp. Everything is encoded and checked in memory
 * before the first write, so bad input leaves the mirror untouched.
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
import { createHash } from "node:crypto";
import { HashMismatchError, NotFoundError, UsageError, VerificationError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import { bodyStream } from "../storage/read_bytes.ts";
import { buildSnapshot } from "./build_snapshot.ts";
import { buildTimestamp } from "./build_timestamp.ts";
import { canonicalBytes } from "./canonical_json.ts";
import { checkRoot } from "./check_root.ts";
import { applyCommitJournal } from "./_apply_journal.ts";
import { newCommitDir } from "./commit_log.ts";
import { type CommitJournal, type JournalFile, toBase64, writeJournal } from "./commit_journal.ts";
import { sha256Hex } from "./hash.ts";
import { formatRfc3339 } from "./rfc3339.ts";
import { encodeManifest } from "./encode_manifest.ts";
import type {
  ComponentManifest,
  FileVersion,
  IndexManifest,
  RootManifest,
} from "./manifest_types.ts";
import { normalizeManifest } from "./normalize_manifest.ts";
import { type KeyLocation, loadRepoKeys } from "./repo_keys.ts";
import { DEFAULT_EXPIRY_DAYS, MAX_TIMESTAMP_BYTES } from "./repo_defaults.ts";
import { extendExpiry } from "./extend_expiry.ts";
import { parseRfc3339 } from "./rfc3339.ts";
import type { ChangeExpiry, RepositoryChange, TarballUpload } from "./repository_change.ts";
import type { RepositoryState } from "./repository_state.ts";
import { roleSigners } from "./role_signers.ts";
import { verifySignatures } from "./verify_signatures.ts";
import { latestStable } from "./latest_stable.ts";
import { componentUrl, urlToPath, versionedPath } from "./versioned_name.ts";

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

interface PlannedFile {
  path: string;
  bytes: Uint8Array;
  ifAbsent: boolean;
}

/** Signs, checks and writes a change on top of `state`; see the module doc. */
export async function commitChange(
  storage: Storage,
  change: RepositoryChange,
  options: CommitChangeOptions,
): Promise<CommitResult> {
  const state = options.state;
  const where = (path: string) => `${storage.location.replace(/\/+$/, "")}/${path}`;
  const keyFolder = where(options.keys.prefix).replace(/\/+$/, "");
  const { now } = options;
  const currentRoot = state.root.manifest.signed;
  const snapshotMeta = state.snapshot.manifest.signed.meta;
  const updates: Record<string, FileVersion> = {};
  const planned: PlannedFile[] = [];

  // Root: exactly N+1, signed by old-threshold old keys and new-threshold new keys.
  let root: RootManifest = currentRoot;
  let rootPlan: PlannedFile | undefined;
  if (change.root) {
    const next = normalizeManifest(change.root.signed);
    const path = versionedPath("/root.json", currentRoot.version + 1);
    if (next.version !== currentRoot.version + 1) {
      throw new UsageError(
        `Cannot add root version ${next.version}: the mirror's root is version ${currentRoot.version}, so the next must be ${
          currentRoot.version + 1
        }`,
      );
    }
    checkRoot(next, path);
    const signedBytes = canonicalBytes(next);
    verifySignatures(
      signedBytes,
      change.root.signatures,
      currentRoot.roles.root,
      `${path} (old root keys)`,
    );
    verifySignatures(
      signedBytes,
      change.root.signatures,
      next.roles.root,
      `${path} (new root keys)`,
    );
    const bytes = canonicalBytes({ signatures: change.root.signatures, signed: next });
    rootPlan = { path, bytes, ifAbsent: true };
    root = next;
    updates["/root.json"] = { length: bytes.length, version: next.version };
  } else {
    // Always name the newest root: this also completes a rotation a crash interrupted.
    updates["/root.json"] = {
      length: state.root.manifest.fileBytes.length,
      version: currentRoot.version,
    };
  }
  const repoKeys = await loadRepoKeys(options.keys, root);

  // Index.
  let index: IndexManifest = state.index.manifest.signed;
  let indexPlan: PlannedFile | undefined;
  let newIndex = change.index;
  if (!newIndex && parseRfc3339(index.expires).getTime() < now.getTime()) {
    // An expired index makes clients refuse every component; the writer holds the index key,
    // so any transaction re-signs it rather than publish into a mirror nobody can use.
    newIndex = normalizeManifest(index);
    newIndex.version += 1;
    newIndex.expires = extendExpiry(index.expires, now, DEFAULT_EXPIRY_DAYS.index);
  }
  if (newIndex) {
    index = normalizeManifest(newIndex);
    checkIndex(index, where("index.json"));
    const current = state.index.manifest.signed.version;
    if (index.version <= current) {
      throw new RangeError(`A new index must have a version above ${current}`);
    }
    index.version = await nextFreeVersion(storage, root.roles.index.url, index.version);
    const path = versionedPath(root.roles.index.url, index.version);
    const bytes = encodeManifest(index, roleSigners(repoKeys, root, "index", keyFolder));
    indexPlan = { path, bytes, ifAbsent: true };
    updates["/index.json"] = { length: bytes.length, version: index.version };
  }

  // Component manifests, signed by their owner's keys in the (new) index.
  const componentPlans: PlannedFile[] = [];
  const urls = new Map<string, { sha256: string; length: number }>();
  for (const { manifest, keys, signatures } of change.components ?? []) {
    const signed = normalizeManifest(manifest);
    const id = signed.id;
    const item = Object.hasOwn(index.components, id) ? index.components[id] : undefined;
    if (!item) {
      throw new UsageError(`Cannot add component "${id}": the index does not list it`);
    }
    const owner = Object.hasOwn(index.owners, item.owner) ? index.owners[item.owner] : undefined;
    if (!owner) {
      throw new UsageError(
        `Cannot add component "${id}": its owner "${item.owner}" is not in the index`,
      );
    }
    const url = item.url || componentUrl(id);
    const current = snapshotMeta[url]?.version ?? 0;
    if (signatures) {
      const file = where(versionedPath(url, signed.version));
      if (signed.version <= current) {
        throw new UsageError(`Cannot add "${file}": the snapshot already has version ${current}`);
      }
      if (await nextFreeVersion(storage, url, signed.version) !== signed.version) {
        throw new UsageError(`Cannot add "${file}": a file of that version already exists`);
      }
      verifySignatures(canonicalBytes(signed), signatures, owner, file);
      const bytes = encodeManifest(signed, [], { signatures });
      componentPlans.push({ path: versionedPath(url, signed.version), bytes, ifAbsent: true });
      updates[url] = { length: bytes.length, version: signed.version };
      collectTarballUrls(signed, urls);
      continue;
    }
    const foreign = keys.find((key) => !Object.hasOwn(owner.keys, key.id));
    if (foreign) {
      throw new UsageError(
        `Cannot sign component "${id}" with key ${foreign.id.slice(0, 16)}: it is not a key of ` +
          `the component's owner "${item.owner}"; grant it with "ferry mirror grant" or use the owner's key`,
      );
    }
    const signers = keys.filter((key, i) => keys.findIndex((k) => k.id === key.id) === i);
    if (signers.length < owner.threshold) {
      throw new UsageError(
        `Cannot sign component "${id}": its owner "${item.owner}" needs ${owner.threshold} keys, ${signers.length} given`,
      );
    }
    if (signed.version <= current) {
      throw new UsageError(
        `Cannot add "${id}" version ${signed.version}: the snapshot already has version ${current}; the new version must follow it`,
      );
    }
    signed.version = await nextFreeVersion(storage, url, signed.version);
    const bytes = encodeManifest(signed, signers);
    componentPlans.push({ path: versionedPath(url, signed.version), bytes, ifAbsent: true });
    updates[url] = { length: bytes.length, version: signed.version };
    collectTarballUrls(signed, urls);
  }
  // Every component in the index must be (or become) a manifest the snapshot lists.
  for (const [id, item] of Object.entries(index.components)) {
    if (!updates[item.url || componentUrl(id)] && !snapshotMeta[item.url || componentUrl(id)]) {
      throw new UsageError(`Cannot list component "${id}" in the index without its manifest`);
    }
  }
  // Tarballs must be named by a url of a manifest in this change, with its hash and length.
  for (const tarball of change.tarballs ?? []) {
    const expected = urls.get(tarball.path);
    if (!expected) {
      throw new UsageError(
        `Cannot add "${tarball.path}": no component manifest in this change has that url (wrong file name?)`,
      );
    }
    if (expected.sha256 !== tarball.sha256 || expected.length !== tarball.length) {
      throw new UsageError(
        `Cannot add "${tarball.path}": its hash or length differs from its manifest entry`,
      );
    }
  }

  // Snapshot and timestamp.
  const snapshot = buildSnapshot(state.snapshot.manifest.signed, updates, {
    now,
    ...(options.expiry?.snapshotDays !== undefined ? { days: options.expiry.snapshotDays } : {}),
  });
  const snapshotBytes = encodeManifest(
    snapshot,
    roleSigners(repoKeys, root, "snapshot", keyFolder),
  );
  const timestamp = buildTimestamp(state.timestamp.manifest.signed, snapshotBytes, {
    now,
    ...(options.expiry?.timestampDays !== undefined ? { days: options.expiry.timestampDays } : {}),
  });
  const timestampBytes = encodeManifest(
    timestamp,
    roleSigners(repoKeys, root, "timestamp", keyFolder),
  );
  if (timestampBytes.length > MAX_TIMESTAMP_BYTES) {
    throw new UsageError(
      `Cannot write "timestamp.json": it would be ${timestampBytes.length} bytes and TiUP clients ` +
        `refuse more than ${MAX_TIMESTAMP_BYTES}; use one 2048-bit timestamp key`,
    );
  }

  planned.push(...componentPlans);
  if (rootPlan) planned.push(rootPlan);
  if (indexPlan) planned.push(indexPlan);

  // Writes, in order. Nothing above touched the mirror; nothing below changes what clients read
  // until the switch.
  const written: string[] = [];
  const requires: JournalFile[] = [];
  for (const tarball of change.tarballs ?? []) {
    options.onProgress?.({ phase: "write", path: tarball.path });
    await writeTarball(storage, tarball);
    written.push(tarball.path);
    requires.push({ path: tarball.path, length: tarball.length, sha256: tarball.sha256 });
  }
  for (const file of planned) {
    options.onProgress?.({ phase: "write", path: file.path });
    await storage.write(file.path, file.bytes, { ifAbsent: file.ifAbsent });
    written.push(file.path);
    requires.push({ path: file.path, length: file.bytes.length, sha256: sha256Hex(file.bytes) });
  }
  const copies = installerCopies(change);
  const logged = options.commitLog !== false;
  const commitDir = logged
    ? await newCommitDir(storage, { now })
    : `commit-${BigInt(now.getTime()) * 1_000_000n}`;
  const journal: CommitJournal = {
    format: "ferry-journal-1",
    kind: "commit",
    id: commitDir.slice(commitDir.lastIndexOf("/") + 1),
    started: formatRfc3339(now),
    previousTimestamp: sha256Hex(state.timestamp.manifest.fileBytes),
    previousSnapshot: toBase64(state.snapshot.manifest.fileBytes),
    requires,
    ...(logged
      ? {
        log: {
          dir: commitDir,
          files: [
            ...written.map((path) => ({ name: path.slice(path.lastIndexOf("/") + 1), from: path })),
            ...copies.map((copy) => ({ name: copy.to, from: copy.from })),
          ],
        },
      }
      : {}),
    switch: [
      { path: "snapshot.json", data: toBase64(snapshotBytes) },
      { path: "timestamp.json", data: toBase64(timestampBytes) },
    ],
    after: copies,
  };
  await writeJournal(storage, journal);
  if (logged) options.onProgress?.({ phase: "commit-log", path: `${commitDir}/` });
  options.onProgress?.({ phase: "write", path: "snapshot.json" });
  options.onProgress?.({ phase: "write", path: "timestamp.json" });
  const warnings = await applyCommitJournal(storage, journal);
  written.push("snapshot.json", "timestamp.json", ...copies.map((copy) => copy.to));
  return {
    files: written,
    ...(logged ? { commitDir } : {}),
    timestampVersion: timestamp.version,
    warnings,
  };
}

/** Records the tarball each version item of `manifest` names, with its sha256 and length. */
function collectTarballUrls(
  manifest: ComponentManifest,
  urls: Map<string, { sha256: string; length: number }>,
): void {
  for (const versions of Object.values(manifest.platforms)) {
    for (const item of Object.values(versions)) {
      urls.set(item.url.replace(/^\/+/, ""), {
        sha256: String(item.hashes.sha256),
        length: item.length,
      });
    }
  }
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

/** TiUP's Index validation: owners of components exist, default components exist. */
function checkIndex(index: IndexManifest, file: string): void {
  for (const [id, item] of Object.entries(index.components)) {
    if (!Object.hasOwn(index.owners, item.owner)) {
      throw new VerificationError(
        `Cannot write "${file}": component "${id}" has unknown owner "${item.owner}"`,
      );
    }
  }
  for (const id of index.default_components ?? []) {
    if (!Object.hasOwn(index.components, id)) {
      throw new VerificationError(
        `Cannot write "${file}": default component "${id}" is not listed`,
      );
    }
  }
}

/** The first version ≥ `from` whose versioned file does not exist yet (skips crash leftovers). */
async function nextFreeVersion(storage: Storage, url: string, from: number): Promise<number> {
  for (let version = from; version < from + 10_000; version++) {
    try {
      await storage.stat(versionedPath(url, version));
    } catch (error) {
      if (error instanceof NotFoundError) return version;
      throw error;
    }
  }
  throw new RangeError(`Cannot find a free version for "${url}" after ${from}`);
}

/**
 * Writes a tarball, hashing it as it streams. An existing file with the same sha256 is kept as
 * is (a retried publish); the bytes must hash to what the manifest says (TiUP's
 * ErrorWrongChecksum), else HashMismatchError.
 */
async function writeTarball(storage: Storage, tarball: TarballUpload): Promise<void> {
  try {
    const existing = await storage.read(tarball.path);
    if (existing.stat.size === tarball.length) {
      const digest = await hashOf(bodyStream(existing));
      if (digest.sha256 === tarball.sha256) return;
    } else {
      await bodyStream(existing).cancel().catch(() => {});
    }
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  const sha256 = createHash("sha256");
  let length = 0;
  const hashing = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      sha256.update(chunk);
      length += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const source = await tarball.open();
  await storage.write(tarball.path, source.pipeThrough(hashing));
  const digest = sha256.digest("hex");
  if (digest !== tarball.sha256 || length !== tarball.length) {
    throw new HashMismatchError(
      `Cannot publish "${tarball.path}": it changed while it was being written (sha256 ${
        digest.slice(0, 16)
      }…, expected ${tarball.sha256.slice(0, 16)}…)`,
    );
  }
}

async function hashOf(stream: ReadableStream<Uint8Array>): Promise<{ sha256: string }> {
  const sha256 = createHash("sha256");
  const reader = stream.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    sha256.update(value);
  }
  return { sha256: sha256.digest("hex") };
}
