/**
 * The in-memory half of a commit (folder-private): signs what a planner built and checks it the
 * way a client will, before anything is written. A new root goes through the trusted-metadata
 * core's own root step, a new index through the core's index rule, so the writer cannot write
 * what clients would refuse.
 *
 * @module
 */
import { NotFoundError, UsageError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import { buildSnapshot } from "./build_snapshot.ts";
import { buildTimestamp } from "./build_timestamp.ts";
import { canonicalBytes } from "../format/canonical_json.ts";
import { encodeManifest } from "../format/encode_manifest.ts";
import type { SigningKey } from "../format/key_info.ts";
import type {
  ComponentManifest,
  FileVersion,
  IndexManifest,
  RootManifest,
} from "../format/manifest_types.ts";
import { normalizeManifest } from "../format/normalize_manifest.ts";
import {
  DEFAULT_EXPIRY_DAYS,
  MAX_TIMESTAMP_BYTES,
  type TopLevelRole,
} from "../format/repo_defaults.ts";
import { extendExpiry } from "../format/extend_expiry.ts";
import { parseRfc3339 } from "../format/rfc3339.ts";
import { versionedPath } from "../format/versioned_name.ts";
import type { Signature } from "../format/sign_manifest.ts";
import { type TrustedKeys, verifySignatures } from "../format/verify_signatures.ts";
import type { RepositoryState } from "../trust/load_verified_state.ts";
import { TrustedMetadataSet } from "../trust/trusted_set.ts";
import { validateIndex } from "../trust/validate_index.ts";
import { type KeyLocation, loadRepoKeys } from "./repo_keys.ts";
import type { ChangeExpiry, ComponentUpdate, RepositoryChange } from "./repository_change.ts";
import { roleSigners } from "./role_signers.ts";

/** A versioned file of the change, encoded and signed. */
export interface PlannedFile {
  path: string;
  bytes: Uint8Array;
  ifAbsent: boolean;
}

/** What {@linkcode signChange} needs besides the change. */
export interface SignChangeOptions {
  /** The verified state the change was built on. */
  state: RepositoryState;
  now: Date;
  keys: KeyLocation;
  expiry?: ChangeExpiry;
}

/** A change ready to write: nothing in it has touched the mirror. */
export interface SignedChange {
  /** Component manifests, then the root, then the index: the order they are written in. */
  files: PlannedFile[];
  snapshotBytes: Uint8Array;
  timestampBytes: Uint8Array;
  timestampVersion: number;
}

/** Snapshot entries the change sets, and the signed tarball facts its components list. */
type SnapshotUpdates = Record<string, FileVersion>;
type TarballFacts = Map<string, { sha256: string; length: number }>;

/**
 * Signs and checks a change on top of `options.state`, in memory: the root (exactly N+1, through
 * the core's root step), the index (renewed when expired; the core's index rule), the component
 * manifests (owner keys and threshold, versions past the snapshot's), the tarballs (named by a
 * new manifest, with its hash and length), then the snapshot and timestamp (≤ 1024 bytes).
 * Throws UsageError for what the caller asked wrongly, VerificationError for what clients would
 * refuse. Only stats the mirror (to skip versioned files a killed writer left).
 */
export async function signChange(
  storage: Storage,
  change: RepositoryChange,
  options: SignChangeOptions,
): Promise<SignedChange> {
  const { state, now } = options;
  const keyFolder = `${storage.location.replace(/\/+$/, "")}/${options.keys.prefix}`
    .replace(/\/+$/, "");
  const root = planRoot(change, state, now);
  const repoKeys = await loadRepoKeys(options.keys, root.signed);
  const signers = (role: TopLevelRole) => roleSigners(repoKeys, root.signed, role, keyFolder);
  const index = await planIndex(storage, change, options, root.signed, () => signers("index"));
  const components = await planComponents(storage, change.components ?? [], index.signed, state);
  requireListedManifests(index.signed, components.updates, state);
  checkTarballs(change, components.tarballs);
  const updates: SnapshotUpdates = {
    "/root.json": root.entry,
    ...(index.entry ? { "/index.json": index.entry } : {}),
    ...components.updates,
  };
  return {
    files: [
      ...components.plans,
      ...(root.plan ? [root.plan] : []),
      ...(index.plan ? [index.plan] : []),
    ],
    ...signSnapshotAndTimestamp(state, updates, signers, options),
  };
}

/**
 * The root: with a new one, exactly N+1 and accepted by the core's root step from the current
 * root (both thresholds, validity, no earlier expiry), as every client will take it; without,
 * the snapshot still names the newest root, which also completes a rotation a crash interrupted.
 */
function planRoot(
  change: RepositoryChange,
  state: RepositoryState,
  now: Date,
): { signed: RootManifest; entry: FileVersion; plan?: PlannedFile } {
  const current = state.root.manifest;
  if (!change.root) {
    const entry = { length: current.fileBytes.length, version: current.signed.version };
    return { signed: current.signed, entry };
  }
  const next = normalizeManifest(change.root.signed);
  const expected = current.signed.version + 1;
  if (next.version !== expected) {
    throw new UsageError(
      `Cannot add root version ${next.version}: the mirror's root is version ${current.signed.version}, so the next must be ${expected}`,
    );
  }
  const bytes = canonicalBytes({ signatures: change.root.signatures, signed: next });
  const trusted = new TrustedMetadataSet(current.fileBytes, {
    now: () => now,
    rootFile: state.root.path,
    onExpired() {},
  });
  trusted.updateRoot(bytes);
  const path = versionedPath("/root.json", expected);
  return {
    signed: next,
    entry: { length: bytes.length, version: expected },
    plan: { path, bytes, ifAbsent: true },
  };
}

/**
 * The index: the change's, or the current one re-signed when it has expired (an expired index
 * makes clients refuse every component, and the writer holds the index key). Checked with the
 * core's index rule, placed past any version a killed writer left.
 */
async function planIndex(
  storage: Storage,
  change: RepositoryChange,
  options: SignChangeOptions,
  root: RootManifest,
  signers: () => SigningKey[],
): Promise<{ signed: IndexManifest; plan?: PlannedFile; entry?: FileVersion }> {
  const current = options.state.index.manifest.signed;
  const next = change.index ?? renewedIfExpired(current, options.now);
  if (!next) return { signed: current };
  const index = normalizeManifest(next);
  validateIndex(index, `${storage.location.replace(/\/+$/, "")}/index.json`);
  if (index.version <= current.version) {
    throw new RangeError(`A new index must have a version above ${current.version}`);
  }
  index.version = await nextFreeVersion(storage, root.roles.index.url, index.version);
  const bytes = encodeManifest(index, signers());
  const path = versionedPath(root.roles.index.url, index.version);
  return {
    signed: index,
    plan: { path, bytes, ifAbsent: true },
    entry: { length: bytes.length, version: index.version },
  };
}

function renewedIfExpired(index: IndexManifest, now: Date): IndexManifest | undefined {
  if (parseRfc3339(index.expires).getTime() >= now.getTime()) return undefined;
  const renewed = normalizeManifest(index);
  renewed.version += 1;
  renewed.expires = extendExpiry(index.expires, now, DEFAULT_EXPIRY_DAYS.index);
  return renewed;
}

/** The component manifests, each signed by its owner's keys in the (new) index. */
async function planComponents(
  storage: Storage,
  updates: ComponentUpdate[],
  index: IndexManifest,
  state: RepositoryState,
): Promise<{ plans: PlannedFile[]; updates: SnapshotUpdates; tarballs: TarballFacts }> {
  const result = { plans: [] as PlannedFile[], updates: {} as SnapshotUpdates };
  const tarballs: TarballFacts = new Map();
  for (const update of updates) {
    const { url, plan, signed } = await signComponent(storage, update, index, state);
    result.plans.push(plan);
    result.updates[url] = { length: plan.bytes.length, version: signed.version };
    for (const versions of Object.values(signed.platforms)) {
      for (const item of Object.values(versions)) {
        tarballs.set(item.url.replace(/^\/+/, ""), {
          sha256: String(item.hashes.sha256),
          length: item.length,
        });
      }
    }
  }
  return { ...result, tarballs };
}

async function signComponent(
  storage: Storage,
  { manifest, keys, signatures }: ComponentUpdate,
  index: IndexManifest,
  state: RepositoryState,
): Promise<{ url: string; plan: PlannedFile; signed: ComponentManifest }> {
  const signed = normalizeManifest(manifest);
  const id = signed.id;
  const item = Object.hasOwn(index.components, id) ? index.components[id] : undefined;
  if (!item) throw new UsageError(`Cannot add component "${id}": the index does not list it`);
  const owner = Object.hasOwn(index.owners, item.owner) ? index.owners[item.owner] : undefined;
  if (!owner) {
    throw new UsageError(
      `Cannot add component "${id}": its owner "${item.owner}" is not in the index`,
    );
  }
  if (signatures) {
    return await acceptSignedComponent(
      storage,
      signed,
      { url: item.url, signatures, owner },
      state,
    );
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
  const url = item.url;
  const current = state.snapshot.manifest.signed.meta[url]?.version ?? 0;
  if (signed.version <= current) {
    throw new UsageError(
      `Cannot add "${id}" version ${signed.version}: the snapshot already has version ${current}; the new version must follow it`,
    );
  }
  signed.version = await nextFreeVersion(storage, url, signed.version);
  const bytes = encodeManifest(signed, signers);
  return { url, signed, plan: { path: versionedPath(url, signed.version), bytes, ifAbsent: true } };
}

/**
 * A component manifest its owner signed elsewhere (a publish over HTTP: the server holds no
 * owner key): its version is kept exactly, since moving it would void the signatures.
 */
async function acceptSignedComponent(
  storage: Storage,
  signed: ComponentManifest,
  { url, signatures, owner }: { url: string; signatures: Signature[]; owner: TrustedKeys },
  state: RepositoryState,
): Promise<{ url: string; plan: PlannedFile; signed: ComponentManifest }> {
  const file = versionedPath(url, signed.version);
  const current = state.snapshot.manifest.signed.meta[url]?.version ?? 0;
  if (signed.version <= current) {
    throw new UsageError(`Cannot add "${file}": the snapshot already has version ${current}`);
  }
  if (await nextFreeVersion(storage, url, signed.version) !== signed.version) {
    throw new UsageError(`Cannot add "${file}": a file of that version already exists`);
  }
  verifySignatures(canonicalBytes(signed), signatures, owner, file);
  const bytes = encodeManifest(signed, [], { signatures });
  return { url, signed, plan: { path: file, bytes, ifAbsent: true } };
}

/** Every component in the index must be (or become) a manifest the snapshot lists. */
function requireListedManifests(
  index: IndexManifest,
  updates: SnapshotUpdates,
  state: RepositoryState,
): void {
  const listed = state.snapshot.manifest.signed.meta;
  for (const [id, item] of Object.entries(index.components)) {
    if (!updates[item.url] && !listed[item.url]) {
      throw new UsageError(`Cannot list component "${id}" in the index without its manifest`);
    }
  }
}

/** Tarballs must be named by a url of a manifest in this change, with its hash and length. */
function checkTarballs(change: RepositoryChange, signed: TarballFacts): void {
  for (const tarball of change.tarballs ?? []) {
    const expected = signed.get(tarball.path);
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
}

/** The new snapshot (with `updates`) and the timestamp that pins it, signed and size-checked. */
function signSnapshotAndTimestamp(
  state: RepositoryState,
  updates: SnapshotUpdates,
  signers: (role: TopLevelRole) => SigningKey[],
  { now, expiry }: SignChangeOptions,
): Omit<SignedChange, "files"> {
  const snapshot = buildSnapshot(state.snapshot.manifest.signed, updates, {
    now,
    ...(expiry?.snapshotDays !== undefined ? { days: expiry.snapshotDays } : {}),
  });
  const snapshotBytes = encodeManifest(snapshot, signers("snapshot"));
  const timestamp = buildTimestamp(state.timestamp.manifest.signed, snapshotBytes, {
    now,
    ...(expiry?.timestampDays !== undefined ? { days: expiry.timestampDays } : {}),
  });
  const timestampBytes = encodeManifest(timestamp, signers("timestamp"));
  if (timestampBytes.length > MAX_TIMESTAMP_BYTES) {
    throw new UsageError(
      `Cannot write "timestamp.json": it would be ${timestampBytes.length} bytes and TiUP clients ` +
        `refuse more than ${MAX_TIMESTAMP_BYTES}; use one 2048-bit timestamp key`,
    );
  }
  return { snapshotBytes, timestampBytes, timestampVersion: timestamp.version };
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
