import {
  HashMismatchError,
  LengthMismatchError,
  NotFoundError,
  RollbackError,
  TooLargeError,
  UsageError,
  VerificationError,
} from "../errors.ts";
import { readBytes } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import { decodeMirrorFile } from "../format/_decode_mirror_file.ts";
import { checkRoot } from "./check_root.ts";
import { sha256Hex } from "../format/hash.ts";
import type {
  IndexManifest,
  RootManifest,
  SignedBase,
  SnapshotManifest,
  TimestampManifest,
  Unverified,
  Verified,
} from "../format/manifest_types.ts";
import { MAX_ROOT_BYTES, MAX_TIMESTAMP_BYTES } from "../format/repo_defaults.ts";
import { parseRfc3339 } from "../format/rfc3339.ts";
import { versionedPath } from "../format/versioned_name.ts";
import { verifyManifest } from "./verify_manifest.ts";
import type { TrustedKeys } from "../format/verify_signatures.ts";

/** A verified manifest file of the mirror: where it is, its bytes and its content. */
export interface StateFile<T extends SignedBase> {
  /** Storage path: "root.json", "3.root.json", "7.index.json", "snapshot.json". */
  path: string;
  manifest: Verified<T>;
}

/** The mirror as the writer trusts it: every manifest verified from the mirror's own root. */
export interface RepositoryState {
  /** Where the mirror is, for messages. */
  location: string;
  /** The newest root, reached from root.json through N+1.root.json with both thresholds. */
  root: StateFile<RootManifest>;
  index: StateFile<IndexManifest>;
  snapshot: StateFile<SnapshotManifest>;
  timestamp: StateFile<TimestampManifest>;
  /** Manifests past their expiry at `now`: still built on (the writer renews them). */
  expired: Array<{ file: string; expires: string }>;
}

/** Options for {@linkcode loadRepositoryState}. */
export interface LoadRepositoryStateOptions {
  now?: Date;
}

/**
 * Reads and verifies a mirror's current state the way a client would, trusting the mirror's own
 * `root.json`: root chain (old and new thresholds, version N+1, valid keys), timestamp (size ≤
 * 1024, one `/snapshot.json` entry), snapshot (length and sha256 from the timestamp, snapshot
 * keys), index (version from the snapshot, index keys). Expiry is recorded in `expired` but not
 * fatal, so an expired mirror can be renewed. Every failure names the file and throws
 * VerificationError (SignatureError, HashMismatchError…), or UsageError when there is no mirror.
 */
export async function loadRepositoryState(
  storage: StorageReader,
  options: LoadRepositoryStateOptions = {},
): Promise<RepositoryState> {
  const now = options.now ?? new Date();
  const where = (path: string) => `${storage.location.replace(/\/+$/, "")}/${path}`;
  // Signatures are checked exactly as a client would; expiry is only recorded (onExpired), since
  // the writer renews what it writes and must be able to repair an expired mirror (#1871).
  const verify = <T extends SignedBase>(
    manifest: Unverified<T>,
    trusted: TrustedKeys,
    file: string,
  ): Verified<T> => verifyManifest(manifest, { file, trusted, now, onExpired: () => {} });
  const read = async (path: string, maxBytes: number): Promise<Uint8Array> => {
    try {
      return await readBytes(storage, path, { maxBytes });
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new VerificationError(
          `Cannot find "${where(path)}": the mirror is incomplete`,
          { cause: error },
        );
      }
      if (error instanceof TooLargeError) {
        throw new LengthMismatchError(
          `Cannot use "${
            where(path)
          }": it is larger than the ${maxBytes} bytes the mirror's metadata allows (tampered or damaged?)`,
          { cause: error },
        );
      }
      throw error;
    }
  };

  // Root: trust root.json (the mirror's own), then walk N+1.root.json (TIUP-FORMAT.md §5.3).
  let rootBytes: Uint8Array;
  try {
    rootBytes = await readBytes(storage, "root.json", { maxBytes: MAX_ROOT_BYTES });
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new UsageError(
        `Cannot find "${where("root.json")}": "${storage.location}" is not a mirror; ` +
          `create one with "ferry mirror init DIR"`,
        { cause: error },
      );
    }
    throw error;
  }
  const firstRoot = decodeMirrorFile(rootBytes, "root", where("root.json"));
  checkRoot(firstRoot.signed, where("root.json"));
  let root: StateFile<RootManifest> = {
    path: "root.json",
    manifest: verify(firstRoot, firstRoot.signed.roles.root, where("root.json")),
  };
  while (true) {
    const next = root.manifest.signed.version + 1;
    const path = versionedPath("/root.json", next);
    let bytes: Uint8Array;
    try {
      bytes = await readBytes(storage, path, { maxBytes: MAX_ROOT_BYTES });
    } catch (error) {
      if (error instanceof NotFoundError) break;
      throw error;
    }
    const candidate = decodeMirrorFile(bytes, "root", where(path));
    if (candidate.signed.version !== next) {
      throw new VerificationError(
        `Cannot trust "${
          where(path)
        }": its version is ${candidate.signed.version}, expected ${next}`,
      );
    }
    checkRoot(candidate.signed, where(path));
    // Signed by a threshold of the old root keys AND a threshold of its own.
    verify(candidate, root.manifest.signed.roles.root, where(path));
    const verified = verify(candidate, candidate.signed.roles.root, where(path));
    if (
      parseRfc3339(candidate.signed.expires).getTime() <
        parseRfc3339(root.manifest.signed.expires).getTime()
    ) {
      throw new VerificationError(
        `Cannot trust "${where(path)}": it expires before the root it replaces`,
      );
    }
    root = { path, manifest: verified };
  }
  const roles = root.manifest.signed.roles;

  // Timestamp.
  const timestampBytes = await read("timestamp.json", MAX_TIMESTAMP_BYTES);
  const timestamp = verify(
    decodeMirrorFile(timestampBytes, "timestamp", where("timestamp.json")),
    roles.timestamp,
    where("timestamp.json"),
  );
  const metaKeys = Object.keys(timestamp.signed.meta);
  const snapshotMeta = timestamp.signed.meta["/snapshot.json"];
  if (
    metaKeys.length !== 1 || !snapshotMeta || typeof snapshotMeta.hashes?.sha256 !== "string" ||
    !Number.isSafeInteger(snapshotMeta.length)
  ) {
    throw new VerificationError(
      `Cannot use "${
        where("timestamp.json")
      }": its meta must hold exactly "/snapshot.json" with a sha256 and a length`,
    );
  }

  // Snapshot, checked against the timestamp.
  const snapshotBytes = await read("snapshot.json", snapshotMeta.length);
  if (snapshotBytes.length !== snapshotMeta.length) {
    throw new LengthMismatchError(
      `Cannot use "${
        where("snapshot.json")
      }": it is ${snapshotBytes.length} bytes, the timestamp says ${snapshotMeta.length}`,
    );
  }
  if (sha256Hex(snapshotBytes) !== snapshotMeta.hashes.sha256) {
    throw new HashMismatchError(
      `Cannot use "${where("snapshot.json")}": its sha256 does not match timestamp.json`,
    );
  }
  const snapshot = verify(
    decodeMirrorFile(snapshotBytes, "snapshot", where("snapshot.json")),
    roles.snapshot,
    where("snapshot.json"),
  );
  const rootEntry = snapshot.signed.meta["/root.json"];
  if (rootEntry && rootEntry.version > root.manifest.signed.version) {
    throw new VerificationError(
      `Cannot use "${where("snapshot.json")}": it names root version ${rootEntry.version} but ` +
        `"${where(versionedPath("/root.json", root.manifest.signed.version + 1))}" is missing`,
    );
  }

  // Index, at the version the snapshot names.
  const indexEntry = snapshot.signed.meta["/index.json"];
  if (!indexEntry || !Number.isSafeInteger(indexEntry.version) || indexEntry.version < 1) {
    throw new VerificationError(
      `Cannot use "${where("snapshot.json")}": it has no valid "/index.json" entry`,
    );
  }
  const indexPath = versionedPath(roles.index.url, indexEntry.version);
  const indexBytes = await read(indexPath, indexEntry.length);
  const index = verify(
    decodeMirrorFile(indexBytes, "index", where(indexPath)),
    roles.index,
    where(indexPath),
  );
  if (index.signed.version !== indexEntry.version) {
    throw new RollbackError(
      `Cannot use "${
        where(indexPath)
      }": its version is ${index.signed.version} but the snapshot says ${indexEntry.version}`,
    );
  }

  const expired: Array<{ file: string; expires: string }> = [];
  for (
    const [path, signed] of [
      [root.path, root.manifest.signed],
      [indexPath, index.signed],
      ["snapshot.json", snapshot.signed],
      ["timestamp.json", timestamp.signed],
    ] as const
  ) {
    if (parseRfc3339(signed.expires).getTime() < now.getTime()) {
      expired.push({ file: where(path), expires: signed.expires });
    }
  }
  return {
    location: storage.location,
    root,
    index: { path: indexPath, manifest: index },
    snapshot: { path: "snapshot.json", manifest: snapshot },
    timestamp: { path: "timestamp.json", manifest: timestamp },
    expired,
  };
}
