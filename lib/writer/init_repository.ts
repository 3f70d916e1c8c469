import { UsageError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import { extendExpiry } from "../format/extend_expiry.ts";
import { encodeManifest } from "../format/encode_manifest.ts";
import { generateSigningKey } from "../format/generate_key.ts";
import type { SigningKey } from "../format/key_info.ts";
import type {
  IndexManifest,
  RootManifest,
  SnapshotManifest,
  TimestampManifest,
} from "../format/manifest_types.ts";
import { SPEC_VERSION } from "../format/manifest_types.ts";
import { acquireMirrorLock, LOCK_PATH } from "./mirror_lock.ts";
import { createWithJournal, readJournal } from "./commit_journal.ts";
import { recoverInterruptedCommit } from "./recover_interrupted_commit.ts";
import { privateKeyFileText } from "../format/private_key_file.ts";
import { buildTimestamp } from "./build_timestamp.ts";
import {
  DEFAULT_EXPIRY_DAYS,
  DEFAULT_THRESHOLDS,
  MAX_TIMESTAMP_BYTES,
  MIRROR_KEYS_PREFIX,
  TOP_LEVEL_ROLES,
  type TopLevelRole,
} from "../format/repo_defaults.ts";

/** Where init writes the role key files: a folder of some storage (default `<mirror>/keys/`). */
export interface KeyOutput {
  storage: Storage;
  prefix: string;
}

/** Options for {@linkcode initRepository}. */
export interface InitRepositoryOptions {
  now?: Date;
  /** Where the private key files go (default `<mirror>/keys/`, as TiUP's `-k/--key-dir`). */
  keyOutput?: KeyOutput;
  /**
   * Keys to use instead of generating them (tests; a clone that keeps its keys across runs).
   * Missing roles get fresh 2048-bit keys: 3 root keys, one for each other role.
   */
  keys?: Partial<Record<TopLevelRole, SigningKey[]>>;
  /** Makes each missing key (default: a fresh RSA-2048 key; tests hand out prepared ones). */
  generateKey?: () => Promise<SigningKey>;
  /** Thresholds (default root 3 — or the number of root keys given if fewer —, others 1). */
  thresholds?: Partial<Record<TopLevelRole, number>>;
  /** Lifetimes in days (default root and index 365, snapshot and timestamp 30). */
  expiryDays?: Partial<Record<TopLevelRole, number>>;
  /** Also write `1.root.json` (TiUP's clone does; init does not). */
  versionedRoot?: boolean;
}

/** What init created. */
export interface InitResult {
  root: RootManifest;
  keys: Record<TopLevelRole, SigningKey[]>;
  /** Storage paths (in the key output) of the key files written. */
  keyFiles: string[];
  /** Mirror files written, in order. */
  files: string[];
}

/**
 * Creates an empty TiUP repository (`mirror init`, TIUP-FORMAT.md §1.5) in an empty storage:
 * role keys saved as `<id16>-<role>.json` (mode 0600) in the key output, then `1.index.json` (no
 * owners, no components, `default_components: []`), `root.json` (v1, signed by every root key),
 * `snapshot.json` (version 0, `/root.json` and `/index.json` with exact lengths) and
 * `timestamp.json` (v1, sha256 and sha512 of the snapshot). Expiries run from `now` in UTC.
 * Throws UsageError when the storage already holds files; nothing is written then. The files are
 * written under a "create" journal, timestamp.json last: an init killed part-way is undone by the
 * next writer (a second `init` then starts over).
 */
export async function initRepository(
  storage: Storage,
  options: InitRepositoryOptions = {},
): Promise<InitResult> {
  const now = options.now ?? new Date();
  // Early, before generating keys; an interrupted earlier init is undone under the lock below.
  if (!(await readJournal(storage))) await requireEmpty(storage, [LOCK_PATH]);
  const counts: Record<TopLevelRole, number> = { index: 1, root: 3, snapshot: 1, timestamp: 1 };
  const generateKey = options.generateKey ?? (async () => (await generateSigningKey()).key);
  const keys = {} as Record<TopLevelRole, SigningKey[]>;
  await Promise.all(TOP_LEVEL_ROLES.map(async (role) => {
    keys[role] = options.keys?.[role] ??
      await Promise.all(
        Array.from({ length: counts[role] }, generateKey),
      );
  }));
  const expiry = (role: TopLevelRole) =>
    extendExpiry(undefined, now, options.expiryDays?.[role] ?? DEFAULT_EXPIRY_DAYS[role]);
  const roles = {} as RootManifest["roles"];
  for (const role of TOP_LEVEL_ROLES) {
    const threshold = options.thresholds?.[role] ??
      (role === "root" ? Math.min(DEFAULT_THRESHOLDS.root, keys.root.length) : 1);
    if (!Number.isInteger(threshold) || threshold < 1 || keys[role].length < threshold) {
      throw new UsageError(
        `Cannot create the ${role} role: it needs ${threshold} keys, ${keys[role].length} given`,
      );
    }
    roles[role] = {
      keys: Object.fromEntries(keys[role].map((k) => [k.id, k.publicInfo])),
      threshold,
      url: `/${role}.json`,
    };
  }
  const root: RootManifest = {
    _type: "root",
    expires: expiry("root"),
    roles,
    spec_version: SPEC_VERSION,
    version: 1,
  };
  const index: IndexManifest = {
    _type: "index",
    components: {},
    default_components: [],
    expires: expiry("index"),
    owners: {},
    spec_version: SPEC_VERSION,
    version: 1,
  };
  const rootBytes = encodeManifest(root, keys.root);
  const indexBytes = encodeManifest(index, keys.index);
  const snapshot: SnapshotManifest = {
    _type: "snapshot",
    expires: expiry("snapshot"),
    meta: {
      "/index.json": { length: indexBytes.length, version: 1 },
      "/root.json": { length: rootBytes.length, version: 1 },
    },
    spec_version: SPEC_VERSION,
    version: 0,
  };
  const snapshotBytes = encodeManifest(snapshot, keys.snapshot);
  const timestamp: TimestampManifest = buildTimestamp(undefined, snapshotBytes, {
    now,
    days: options.expiryDays?.timestamp ?? DEFAULT_EXPIRY_DAYS.timestamp,
  });
  const timestampBytes = encodeManifest(
    timestamp,
    keys.timestamp.slice(0, roles.timestamp.threshold),
  );
  if (timestampBytes.length > MAX_TIMESTAMP_BYTES) {
    throw new UsageError(
      `Cannot create "timestamp.json": it would be ${timestampBytes.length} bytes, over TiUP's ${MAX_TIMESTAMP_BYTES}`,
    );
  }

  const lock = await acquireMirrorLock(storage, { now });
  try {
    await recoverInterruptedCommit(storage, { now });
    await requireEmpty(storage, [LOCK_PATH]);
    const output = options.keyOutput ?? { storage, prefix: MIRROR_KEYS_PREFIX };
    const keyFiles: Array<[string, string]> = [];
    for (const role of TOP_LEVEL_ROLES) {
      for (const key of keys[role]) {
        keyFiles.push([
          `${output.prefix}${key.id.slice(0, 16)}-${role}.json`,
          privateKeyFileText(key),
        ]);
      }
    }
    const files: Array<[string, Uint8Array]> = [
      ["1.index.json", indexBytes],
      ...(options.versionedRoot ? [["1.root.json", rootBytes] as [string, Uint8Array]] : []),
      ["root.json", rootBytes],
      ["snapshot.json", snapshotBytes],
      ["timestamp.json", timestampBytes],
    ];
    const creates = [
      ...(output.storage === storage ? keyFiles.map(([path]) => path) : []),
      ...files.map(([path]) => path),
    ];
    await createWithJournal(storage, { id: "init", now, creates }, async () => {
      for (const [path, text] of keyFiles) {
        await output.storage.write(path, text, { mode: 0o600 });
      }
      for (const [path, bytes] of files) await storage.write(path, bytes, { ifAbsent: true });
    });
    return {
      root,
      keys,
      keyFiles: keyFiles.map(([path]) => path),
      files: files.map(([path]) => path),
    };
  } finally {
    await lock.release();
  }
}

async function requireEmpty(storage: Storage, ignore: string[]): Promise<void> {
  for await (const file of storage.list("")) {
    if (ignore.includes(file.path)) continue;
    throw new UsageError(
      `Cannot create a mirror in "${storage.location}": it is not empty (found "${file.path}"); ` +
        `choose an empty or new directory`,
    );
  }
}
