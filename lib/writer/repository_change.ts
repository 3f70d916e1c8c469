/**
 * What one writer transaction adds to a mirror: plain data that pure planners build from the
 * verified current state, and that the commit step signs, orders and writes.
 *
 * @module
 */
import type { SigningKey } from "../format/key_info.ts";
import type { Signature } from "../format/sign_manifest.ts";
import type {
  ComponentManifest,
  Envelope,
  IndexManifest,
  RootManifest,
} from "../format/manifest_types.ts";

/** A tarball to add, written first and hash-checked as it is written. */
export interface TarballUpload {
  /** Storage path: the VersionItem's url without its leading "/". */
  path: string;
  sha256: string;
  length: number;
  /** Opens the bytes (called once, or twice with the commit log). */
  open(): ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>;
  /**
   * Where the same storage already holds exactly these bytes (an upload the publish API hashed
   * as it arrived): on a backend with `Storage.copy` the commit gives `path` that object (a hard
   * link, a server-side copy) instead of streaming `open()` through the writer a second time.
   */
  stored?: StoredTarball;
}

/** An object holding a tarball's bytes already, hashed (length and sha256) when it was stored. */
export interface StoredTarball {
  /** Its storage path. */
  path: string;
  /**
   * Its `FileStat.identity` when it was hashed, where the backend has one: the commit refuses
   * the object if it has been replaced or modified since, rather than publish unhashed bytes.
   */
  identity?: string;
}

/** A component manifest to add, and the owner keys that sign it. */
export interface ComponentUpdate {
  /**
   * The new `signed` object. Its `version` is the lowest acceptable one: the commit moves it
   * past any `N.<id>.json` left behind by an interrupted writer (versioned files are never
   * rewritten), so it must be above the snapshot's current version for this component.
   */
  manifest: ComponentManifest;
  /** Keys of the component's owner in the index; at least the owner's threshold of them. */
  keys: SigningKey[];
  /**
   * Signatures the owner made elsewhere over the canonical JSON of `manifest` (a publish over
   * HTTP: the server holds no owner key). When given, `keys` must be empty, the signatures must
   * reach the owner's threshold, and `version` is kept exactly (moving it would void them).
   */
  signatures?: Signature[];
}

/** Everything a transaction adds; snapshot and timestamp are always rebuilt. */
export interface RepositoryChange {
  tarballs?: TarballUpload[];
  components?: ComponentUpdate[];
  /** The new index `signed` object (version = lowest acceptable), signed with the index keys. */
  index?: IndexManifest;
  /** A fully signed new root, version N+1: written as `{N+1}.root.json`, never as root.json. */
  root?: Envelope<RootManifest>;
}

/** Expiry extensions a transaction applies to the snapshot and timestamp. */
export interface ChangeExpiry {
  /** Days from now for snapshot.json (default 30, never shortened). */
  snapshotDays?: number;
  /** Days from now for timestamp.json (default 30, never shortened). */
  timestampDays?: number;
}
