/**
 * The writer's view of a mirror, established through the one trusted-metadata core
 * ({@linkcode TrustedMetadataSet}) and its root walk, exactly as a client establishes it; the
 * only difference is the core's expired-but-otherwise-valid mode, so that an expired mirror can
 * be renewed or have its root rotated (#1871).
 *
 * @module
 */
import {
  LengthMismatchError,
  NotFoundError,
  TooLargeError,
  UsageError,
  VerificationError,
} from "../errors.ts";
import { readBytes } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import type {
  IndexManifest,
  RootManifest,
  SignedBase,
  SnapshotManifest,
  TimestampManifest,
  Verified,
} from "../format/manifest_types.ts";
import { MAX_ROOT_BYTES, MAX_TIMESTAMP_BYTES } from "../format/repo_defaults.ts";
import { parseRfc3339 } from "../format/rfc3339.ts";
import { TrustedMetadataSet } from "./trusted_set.ts";
import { walkRootChain } from "./walk_root_chain.ts";

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
  /**
   * The trusted set this state was loaded through (expired-tolerant): component manifests are
   * verified by it too (load_component_manifest.ts).
   */
  trusted: TrustedMetadataSet;
}

/** Options for {@linkcode loadRepositoryState}. */
export interface LoadRepositoryStateOptions {
  now?: Date;
}

/**
 * Reads and verifies a mirror's current state the way a client would, trusting the mirror's own
 * `root.json`, through {@linkcode TrustedMetadataSet} and {@linkcode walkRootChain}: root chain,
 * timestamp, snapshot (bound to the timestamp), the index the snapshot names, and a check that
 * the snapshot names no root newer than the chain reached. Expiry is recorded in `expired` but
 * not fatal, so an expired mirror can be renewed. Every failure names the file and throws
 * VerificationError (SignatureError, HashMismatchError…), or UsageError when there is no mirror.
 */
export async function loadRepositoryState(
  storage: StorageReader,
  options: LoadRepositoryStateOptions = {},
): Promise<RepositoryState> {
  const now = options.now ?? new Date();
  const trusted = await trustOwnRoot(storage, now);
  await walkRootChain(trusted, storage);
  trusted.updateTimestamp(await readListed(storage, "timestamp.json", MAX_TIMESTAMP_BYTES));
  const snapshotEntry = trusted.timestamp!.signed.meta["/snapshot.json"]!;
  trusted.updateSnapshot(await readListed(storage, "snapshot.json", snapshotEntry.length));
  refuseAnnouncedRoot(storage, trusted);
  const index = trusted.indexSource();
  trusted.updateIndex(await readListed(storage, index.path, index.maxBytes));
  return describeState(storage, trusted, index.path, now);
}

/** The anchor: the mirror's own root.json, in the core's expired-tolerant mode. */
async function trustOwnRoot(storage: StorageReader, now: Date): Promise<TrustedMetadataSet> {
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(storage, "root.json", { maxBytes: MAX_ROOT_BYTES });
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new UsageError(
        `Cannot find "${where(storage, "root.json")}": "${storage.location}" is not a mirror; ` +
          `create one with "ferry mirror init DIR"`,
        { cause: error },
      );
    }
    throw error;
  }
  // Signatures, hashes, lengths and versions are checked exactly as a client would; expiry is
  // only recorded (describeState), since the writer renews what it writes (#1871).
  return new TrustedMetadataSet(bytes, { now: () => now, rootFile: "root.json", onExpired() {} });
}

/**
 * The walk stopped at the newest root present; a snapshot naming a newer one means a root file
 * is missing, and building on it would hide that from the writer.
 */
function refuseAnnouncedRoot(storage: StorageReader, trusted: TrustedMetadataSet): void {
  const announced = trusted.snapshotMeta("/root.json");
  const version = trusted.root.signed.version;
  if (announced && announced.version > version) {
    throw new VerificationError(
      `Cannot use "${
        where(storage, "snapshot.json")
      }": it names root version ${announced.version} ` +
        `but "${where(storage, `${version + 1}.root.json`)}" is missing`,
    );
  }
}

/** The verified state as the writer's planners see it, with what has expired at `now`. */
function describeState(
  storage: StorageReader,
  trusted: TrustedMetadataSet,
  indexPath: string,
  now: Date,
): RepositoryState {
  const root = { path: trusted.rootFile, manifest: trusted.root };
  const index = { path: indexPath, manifest: trusted.index! };
  const snapshot = { path: "snapshot.json", manifest: trusted.snapshot! };
  const timestamp = { path: "timestamp.json", manifest: trusted.timestamp! };
  const expired = [root, index, snapshot, timestamp]
    .filter(({ manifest }) => parseRfc3339(manifest.signed.expires).getTime() < now.getTime())
    .map(({ path, manifest }) => ({
      file: where(storage, path),
      expires: manifest.signed.expires,
    }));
  return { location: storage.location, root, index, snapshot, timestamp, expired, trusted };
}

/**
 * Reads a file the verified metadata names, within the length it allows: a missing one means an
 * incomplete mirror, a longer one tampering (both VerificationErrors, naming the file).
 */
export async function readListed(
  storage: StorageReader,
  path: string,
  maxBytes: number,
): Promise<Uint8Array> {
  try {
    return await readBytes(storage, path, { maxBytes });
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new VerificationError(
        `Cannot find "${where(storage, path)}": the mirror is incomplete`,
        { cause: error },
      );
    }
    if (error instanceof TooLargeError) {
      throw new LengthMismatchError(
        `Cannot use "${
          where(storage, path)
        }": it is larger than the ${maxBytes} bytes the mirror's metadata allows (tampered or damaged?)`,
        { cause: error },
      );
    }
    throw error;
  }
}

function where(storage: StorageReader, path: string): string {
  return `${storage.location.replace(/\/+$/, "")}/${path}`;
}
