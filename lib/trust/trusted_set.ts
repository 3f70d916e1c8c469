import { type Clock, systemClock } from "../clock.ts";
import { createHash } from "node:crypto";
import {
  ExpiredError,
  HashMismatchError,
  LengthMismatchError,
  ManifestFormatError,
  RollbackError,
  TooLargeError,
  VerificationError,
} from "../errors.ts";
import {
  type DecodedManifest,
  decodeManifest,
  type ManifestTypes,
} from "../format/decode_manifest.ts";
import type { PublicKeyInfo } from "../format/key_info.ts";
import type {
  ComponentManifest,
  FileVersion,
  IndexManifest,
  RootManifest,
  SignedBase,
  SnapshotManifest,
  TimestampManifest,
  Verified,
  VersionItem,
} from "../format/manifest_types.ts";
import { MAX_ROOT_BYTES, MAX_TIMESTAMP_BYTES } from "../format/repo_defaults.ts";
import { parseRfc3339 } from "../format/rfc3339.ts";
import { validateIndex } from "./validate_index.ts";
import { validateRoot } from "./validate_root.ts";
import { type KeyDeclaration, verifyManifest } from "./verify_manifest.ts";

/** Options for {@linkcode TrustedMetadataSet}. */
export interface TrustedSetOptions {
  /** The clock (injected so tests and audits can fix "now"). Default: the real time. */
  now?: Clock;
  /** The trust anchor's name in messages. Default "root.json". */
  rootFile?: string;
  /**
   * The expired-but-otherwise-valid mode: expiry problems (a manifest's own, or of the manifest
   * that declared its keys) are handed here instead of thrown, and the expired manifest is
   * trusted for the rest of the run; every other rule still throws. For audits that list every
   * problem (`ferry mirror verify`) and for the writer, which must load an expired mirror to
   * renew it or rotate its root. A client installing software must not pass this.
   */
  onExpired?: (error: ExpiredError) => void;
}

/** What {@linkcode TrustedMetadataSet.checkTarball} compares: what was actually read. */
export interface TarballFacts {
  length: number;
  sha256?: string;
  sha512?: string;
}

const HASHES = new Set(["sha256", "sha512"]);

/**
 * The one trusted-metadata core of ferry, like python-tuf's TrustedMetadataSet: the client
 * updater, `mirror verify`, clone, merge and the writer all trust a mirror through it. It holds
 * the manifests verified so far and takes new ones as bytes, in TUF order (root → timestamp →
 * snapshot → index → components), checking each against what it already trusts. It does no I/O
 * and reads the time only through the injected clock; its callers do the fetching, and the root
 * walk is `walkRootChain` (walk_root_chain.ts).
 *
 * Rules (TIUP-FORMAT.md §4–5; "ferry:" marks checks beyond TiUP's):
 * - root N+1 must be signed by a threshold of the old root keys and of its own keys, be valid
 *   ({@linkcode validateRoot}), have version N+1 and not expire before N (§5.3); after the
 *   walk the newest root must not be expired;
 * - timestamp ≤ 1024 bytes, exactly one meta entry `/snapshot.json` with a sha256, version not
 *   below any timestamp this set has verified (rollback);
 * - snapshot no longer than the timestamp says, and sha256 (ferry: and sha512 when listed) equal
 *   to the timestamp's (mix-and-match); its version stays 0, so it has no rollback check;
 * - index version equal to the snapshot's `/index.json` version and not below one already
 *   verified, and valid ({@linkcode validateIndex});
 * - a component must be in the index, be signed by its owner (the index's expiry is the keys'
 *   expiry), have the snapshot's version, not go below one already verified, and carry `id`
 *   equal to its name;
 * - every manifest's signatures first, then its keys' expiry, then its own expiry.
 *
 * Replacing a manifest drops what was verified below it (a new timestamp drops the snapshot,
 * index and components), but the versions seen are kept as rollback floors.
 */
export class TrustedMetadataSet {
  readonly #now: Clock;
  readonly #onExpired: ((error: ExpiredError) => void) | undefined;
  #root: Verified<RootManifest>;
  #rootFile: string;
  #rootChanged = false;
  #timestamp: Verified<TimestampManifest> | undefined;
  #snapshot: Verified<SnapshotManifest> | undefined;
  #index: Verified<IndexManifest> | undefined;
  readonly #components = new Map<string, Verified<ComponentManifest>>();
  readonly #floors = { timestamp: 0, index: 0, components: new Map<string, number>() };

  /**
   * Trusts `rootBytes` as the anchor (a profile's root.json, `--root`): it must be a valid root
   * signed by a threshold of its own root keys. Its expiry is not checked here, as in TiUP
   * (§5.1); {@linkcode checkRootFresh} does that once the root chain has been walked.
   */
  constructor(rootBytes: Uint8Array, options: TrustedSetOptions = {}) {
    this.#now = options.now ?? systemClock;
    this.#onExpired = options.onExpired;
    this.#rootFile = options.rootFile ?? "root.json";
    const root = decode(capped(rootBytes, MAX_ROOT_BYTES, this.#rootFile), "root", this.#rootFile);
    validateRoot(root.signed, this.#rootFile);
    this.#root = verifyManifest(root, {
      file: this.#rootFile,
      trusted: root.signed.roles.root,
      now: this.#now(),
      onExpired: () => {},
    });
  }

  /** The newest trusted root. */
  get root(): Verified<RootManifest> {
    return this.#root;
  }

  /** The newest trusted root's file: the anchor's name, or "N.root.json" after a walk. */
  get rootFile(): string {
    return this.#rootFile;
  }

  /** The trusted timestamp, once {@linkcode updateTimestamp} succeeded. */
  get timestamp(): Verified<TimestampManifest> | undefined {
    return this.#timestamp;
  }

  /** The trusted snapshot, once {@linkcode updateSnapshot} succeeded. */
  get snapshot(): Verified<SnapshotManifest> | undefined {
    return this.#snapshot;
  }

  /** The trusted index, once {@linkcode updateIndex} succeeded. */
  get index(): Verified<IndexManifest> | undefined {
    return this.#index;
  }

  /** A trusted component manifest, once {@linkcode updateComponent} succeeded for it. */
  component(name: string): Verified<ComponentManifest> | undefined {
    return this.#components.get(name);
  }

  /** The snapshot's record of a versioned file ("/index.json", "/tidb.json"), if any. */
  snapshotMeta(url: string): FileVersion | undefined {
    const meta = this.#snapshot?.signed.meta;
    return meta && Object.hasOwn(meta, url) ? meta[url] : undefined;
  }

  /**
   * Where the index the trusted snapshot names is, and its byte cap: `{ path: "42.index.json",
   * maxBytes }`. Throws when there is no trusted snapshot or it lists no index.
   */
  indexSource(): { path: string; maxBytes: number } {
    this.#require(this.#snapshot, "snapshot.json", "the index");
    const meta = this.snapshotMeta("/index.json");
    if (!meta) {
      throw new ManifestFormatError(
        `Cannot trust the index: snapshot.json does not list "/index.json"`,
      );
    }
    return { path: `${meta.version}.index.json`, maxBytes: meta.length };
  }

  /**
   * Where a component's manifest is, and its byte cap: `{ path: "62.tidb.json", maxBytes }`.
   * Throws when the trusted index does not list the component or the snapshot lacks it.
   */
  componentSource(name: string): { path: string; maxBytes: number } {
    const index = this.#require(this.#index, "index", `"${name}.json"`);
    if (!Object.hasOwn(index.signed.components, name)) {
      throw new VerificationError(
        `Cannot trust "${name}.json": the index (v${index.signed.version}) does not list component "${name}"`,
      );
    }
    const meta = this.snapshotMeta(`/${name}.json`);
    if (!meta) {
      throw new VerificationError(
        `Cannot trust "${name}.json": snapshot.json does not list "/${name}.json"`,
      );
    }
    return { path: `${meta.version}.${name}.json`, maxBytes: meta.length };
  }

  /**
   * Takes root N+1 (the bytes of `N+1.root.json`): it must be signed by a threshold of the
   * current root keys AND a threshold of its own, be valid, have version N+1 and expire no
   * earlier than N (§5.3). An intermediate root may be expired. Drops the timestamp and
   * everything below it, since their keys may have changed.
   */
  updateRoot(bytes: Uint8Array): Verified<RootManifest> {
    const old = this.#root.signed;
    const file = `${old.version + 1}.root.json`;
    const root = decode(capped(bytes, MAX_ROOT_BYTES, file), "root", file);
    const now = this.#now();
    const ignoreExpiry = { now, onExpired: () => {} };
    verifyManifest(root, { file, trusted: old.roles.root, ...ignoreExpiry });
    const verified = verifyManifest(root, {
      file,
      trusted: root.signed.roles.root,
      ...ignoreExpiry,
    });
    validateRoot(root.signed, file);
    if (root.signed.version !== old.version + 1) {
      const ErrorClass = root.signed.version <= old.version ? RollbackError : VerificationError;
      throw new ErrorClass(
        `Cannot trust "${file}": its version is ${root.signed.version}, expected ${
          old.version + 1
        }`,
      );
    }
    if (time(root.signed.expires) < time(old.expires)) {
      throw new RollbackError(
        `Cannot trust "${file}": it expires (${root.signed.expires}) before the root it replaces (${old.expires})`,
      );
    }
    this.#root = verified;
    this.#rootFile = file;
    this.#rootChanged = true;
    this.#timestamp = undefined;
    this.#dropBelowTimestamp();
    return verified;
  }

  /** True once {@linkcode updateRoot} has replaced the anchor. */
  get rootChanged(): boolean {
    return this.#rootChanged;
  }

  /**
   * After the root walk: the newest root must not be expired (§5.3). Its expiry is also the
   * expiry of every role key, so this names the real problem early.
   */
  checkRootFresh(): void {
    const root = this.#root.signed;
    if (time(root.expires) < this.#now().getTime()) {
      this.#expired(
        new ExpiredError(
          `"${this.#rootFile}" (root v${root.version}) expired on ${root.expires.slice(0, 10)}; ` +
            `the mirror owner must publish ${root.version + 1}.root.json`,
        ),
      );
    }
  }

  /**
   * Takes timestamp.json: at most 1024 bytes, signed by the timestamp role, not expired, a
   * version not below any timestamp verified before (rollback), and exactly one meta entry,
   * `/snapshot.json`, with a sha256. Drops the snapshot and everything below it.
   */
  updateTimestamp(bytes: Uint8Array): Verified<TimestampManifest> {
    const file = "timestamp.json";
    const timestamp = decode(capped(bytes, MAX_TIMESTAMP_BYTES, file), "timestamp", file);
    const { verified, expired } = this.#verify(
      timestamp,
      this.#root.signed.roles.timestamp,
      this.#rootDeclaration(),
    );
    const version = timestamp.signed.version;
    if (version < this.#floors.timestamp) {
      throw new RollbackError(
        `Cannot trust "${file}": its version ${version} is lower than version ${this.#floors.timestamp}, which was trusted before (a rolled-back or stale mirror)`,
      );
    }
    this.#floors.timestamp = version;
    const entries = Object.keys(timestamp.signed.meta);
    const entry = timestamp.signed.meta["/snapshot.json"];
    if (entries.length !== 1 || !entry) {
      throw new ManifestFormatError(
        `Cannot trust "${file}": its meta must list exactly "/snapshot.json", not ${
          JSON.stringify(entries)
        }`,
      );
    }
    if (typeof entry.hashes.sha256 !== "string" || entry.hashes.sha256 === "") {
      throw new ManifestFormatError(`Cannot trust "${file}": it gives no sha256 for snapshot.json`);
    }
    this.#reportExpired(expired);
    this.#timestamp = verified;
    this.#dropBelowTimestamp();
    return verified;
  }

  /**
   * Takes snapshot.json: no longer than the trusted timestamp says, with the sha256 (and sha512
   * when listed) the timestamp gives — which binds this snapshot to that timestamp
   * (mix-and-match defence) — signed by the snapshot role and not expired. Its version is always
   * 0 in TiUP, so there is no rollback check here. Drops the index and components.
   */
  updateSnapshot(bytes: Uint8Array): Verified<SnapshotManifest> {
    const file = "snapshot.json";
    const timestamp = this.#require(this.#timestamp, "timestamp.json", file);
    const entry = timestamp.signed.meta["/snapshot.json"]!;
    checkLength(bytes, entry.length, file, "timestamp.json");
    for (const [algorithm, expected] of Object.entries(entry.hashes)) {
      if (!HASHES.has(algorithm)) continue;
      const actual = createHash(algorithm).update(bytes).digest("hex");
      if (actual !== expected) {
        throw new HashMismatchError(
          `Cannot trust "${file}": its ${algorithm} is ${
            actual.slice(0, 16)
          }…, but timestamp.json (v${timestamp.signed.version}) says ${
            expected.slice(0, 16)
          }… (mixed copies of the mirror?)`,
        );
      }
    }
    const snapshot = decode(bytes, "snapshot", file);
    const { verified, expired } = this.#verify(
      snapshot,
      this.#root.signed.roles.snapshot,
      this.#rootDeclaration(),
    );
    this.#reportExpired(expired);
    this.#snapshot = verified;
    this.#index = undefined;
    this.#components.clear();
    return verified;
  }

  /**
   * Takes `N.index.json`, N being the snapshot's `/index.json` version: no longer than the
   * snapshot says, signed by the index role, version equal to N and not below an index verified
   * before, not expired, and internally consistent (owners, thresholds, component owners, default
   * components). Drops the components verified under the previous index.
   */
  updateIndex(bytes: Uint8Array): Verified<IndexManifest> {
    const { path: file, maxBytes } = this.indexSource();
    const meta = this.snapshotMeta("/index.json")!;
    checkLength(bytes, maxBytes, file, "snapshot.json");
    const index = decode(bytes, "index", file);
    const { verified, expired } = this.#verify(
      index,
      this.#root.signed.roles.index,
      this.#rootDeclaration(),
    );
    this.#checkVersion(file, index.signed.version, meta.version, this.#floors.index);
    this.#floors.index = Math.max(this.#floors.index, index.signed.version);
    validateIndex(index.signed, file);
    this.#reportExpired(expired);
    this.#index = verified;
    this.#components.clear();
    return verified;
  }

  /**
   * Takes `v.<name>.json`, v being the snapshot's `/<name>.json` version: the component must be
   * in the index; the manifest no longer than the snapshot says, signed by a threshold of its
   * owner's keys (whose expiry is the index's), version equal to v and not below one verified
   * before, `id` equal to `name`, and not expired. Yanked components are verified like any
   * other; hiding them is the caller's choice.
   */
  updateComponent(name: string, bytes: Uint8Array): Verified<ComponentManifest> {
    const { path: file, maxBytes } = this.componentSource(name);
    const index = this.#index!;
    const item = index.signed.components[name]!;
    const meta = this.snapshotMeta(`/${name}.json`)!;
    checkLength(bytes, maxBytes, file, "snapshot.json");
    const component = decode(bytes, "component", file);
    const owner = index.signed.owners[item.owner]!;
    const { verified, expired } = this.#verify(component, owner, {
      role: "index",
      file: `${index.signed.version}.index.json`,
      version: index.signed.version,
      expires: index.signed.expires,
    });
    const floor = this.#floors.components.get(name) ?? 0;
    this.#checkVersion(file, component.signed.version, meta.version, floor);
    this.#floors.components.set(name, Math.max(floor, component.signed.version));
    if (component.signed.id !== name) {
      throw new VerificationError(
        `Cannot trust "${file}": it describes component "${component.signed.id}", not "${name}"`,
      );
    }
    this.#reportExpired(expired);
    this.#components.set(name, verified);
    return verified;
  }

  /**
   * Checks a downloaded tarball against its signed version item: the length, and every hash the
   * item lists (it must list sha256). ferry checks more than TiUP, which checks only sha256 on
   * install (§5.5). Throws LengthMismatchError or HashMismatchError naming the file.
   */
  checkTarball(item: VersionItem, actual: TarballFacts): void {
    const file = item.url.replace(/^\/+/, "");
    if (actual.length !== item.length) {
      throw new LengthMismatchError(
        `Cannot trust "${file}": it is ${actual.length} bytes, but its manifest says ${item.length}`,
      );
    }
    const hashes = item.hashes as Record<string, string>;
    if (typeof hashes.sha256 !== "string") {
      throw new HashMismatchError(`Cannot trust "${file}": its manifest gives no sha256`);
    }
    for (const [algorithm, expected] of Object.entries(hashes)) {
      const got = algorithm === "sha256"
        ? actual.sha256
        : algorithm === "sha512"
        ? actual.sha512
        : undefined;
      if (got === undefined) {
        throw new HashMismatchError(`Cannot trust "${file}": cannot check its ${algorithm} hash`);
      }
      if (got !== expected.toLowerCase()) {
        throw new HashMismatchError(
          `Cannot trust "${file}": its ${algorithm} is ${
            got.slice(0, 16)
          }…, but its manifest says ${expected.slice(0, 16)}… (corrupt or stale copy?)`,
        );
      }
    }
  }

  #rootDeclaration(): KeyDeclaration {
    const root = this.#root.signed;
    return { role: "root", file: this.#rootFile, version: root.version, expires: root.expires };
  }

  /** Verifies signatures (which throw) and collects expiry problems for after the other checks. */
  #verify<T extends SignedBase>(
    manifest: DecodedManifest<T>,
    trusted: { keys: Record<string, PublicKeyInfo>; threshold: number },
    declaredBy: KeyDeclaration,
  ): { verified: Verified<T>; expired: ExpiredError[] } {
    const expired: ExpiredError[] = [];
    const verified = verifyManifest(manifest, {
      file: manifest.file,
      trusted,
      declaredBy,
      now: this.#now(),
      onExpired: (error) => expired.push(error),
    });
    return { verified, expired };
  }

  #reportExpired(expired: ExpiredError[]): void {
    for (const error of expired) this.#expired(error);
  }

  #expired(error: ExpiredError): void {
    if (!this.#onExpired) throw error;
    this.#onExpired(error);
  }

  #checkVersion(file: string, version: number, expected: number, floor: number): void {
    if (version < floor) {
      throw new RollbackError(
        `Cannot trust "${file}": its version ${version} is lower than version ${floor}, which was trusted before (a rolled-back or stale mirror)`,
      );
    }
    if (version !== expected) {
      const ErrorClass = version < expected ? RollbackError : VerificationError;
      throw new ErrorClass(
        `Cannot trust "${file}": its version is ${version} but the snapshot says ${expected}`,
      );
    }
  }

  #require<T>(value: T | undefined, what: string, forWhat: string): T {
    if (value === undefined) {
      throw new VerificationError(
        `Cannot verify ${forWhat}: no trusted ${what} yet (load it first)`,
      );
    }
    return value;
  }

  #dropBelowTimestamp(): void {
    this.#snapshot = undefined;
    this.#index = undefined;
    this.#components.clear();
  }
}

/**
 * decodeManifest, with unparseable bytes reported like every other malformed manifest
 * (ManifestFormatError, a VerificationError): a damaged mirror is a verification failure naming
 * the file, whoever reads it.
 */
function decode<K extends keyof ManifestTypes>(
  bytes: Uint8Array,
  type: K,
  file: string,
): DecodedManifest<ManifestTypes[K]> {
  try {
    return decodeManifest(bytes, type, file);
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new ManifestFormatError(error.message, { cause: error });
    }
    throw error;
  }
}

function checkLength(bytes: Uint8Array, limit: number, file: string, declaredIn: string): void {
  if (bytes.length > limit) {
    throw new LengthMismatchError(
      `Cannot trust "${file}": it is ${bytes.length} bytes, more than the ${limit} that ${declaredIn} allows`,
    );
  }
}

function capped(bytes: Uint8Array, limit: number, file: string): Uint8Array {
  if (bytes.length > limit) throw new TooLargeError(file, limit);
  return bytes;
}

function time(rfc3339: string): number {
  return parseRfc3339(rfc3339).getTime();
}
