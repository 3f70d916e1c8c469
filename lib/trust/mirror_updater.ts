import { type Clock, systemClock } from "../clock.ts";
import {
  ExpiredError,
  LengthMismatchError,
  NotFoundError,
  SignatureError,
  TooLargeError,
  UsageError,
} from "../errors.ts";
import { bodyStream, readBytes } from "../storage/read_bytes.ts";
import type { FileStat, Storage, StorageReader } from "../storage/storage.ts";
import {
  MAX_MANIFEST_BYTES,
  MAX_ROOT_BYTES,
  MAX_TIMESTAMP_BYTES,
} from "../format/repo_defaults.ts";
import { hashingStream, sha256Hex } from "../format/hash.ts";
import type {
  ComponentManifest,
  IndexManifest,
  Verified,
  VersionItem,
} from "../format/manifest_types.ts";
import { TrustedMetadataSet } from "./trusted_set.ts";
import { walkRootChain } from "./walk_root_chain.ts";
import { urlToPath } from "../format/versioned_name.ts";

/** Options for {@linkcode MirrorUpdater}. */
export interface MirrorUpdaterOptions {
  /**
   * The trust anchor (a profile's bin/root.json, or the bytes given to `mirror set --root`).
   * Used when the cache holds no root.json; required when there is no cache.
   */
  trustedRoot?: Uint8Array;
  /**
   * A client profile's manifests directory. Verified manifests are kept here as the raw bytes
   * fetched (never re-serialized, TIUP-FORMAT.md §5.6) under TiUP's names: root.json,
   * N.root.json, timestamp.json, snapshot.json, index.json, <component>.json. Unchanged ones
   * are not fetched again, and their versions are the floor a rolled-back mirror is caught by.
   */
  cache?: Storage;
  /** The clock. Default: the real time. */
  now?: Clock;
  /**
   * Only for checks that must see past an expiry (is this root the mirror's?): expiry problems
   * go here instead of being thrown (TrustedSetOptions.onExpired). Never for installs.
   */
  onExpired?: (error: ExpiredError) => void;
}

/** What {@linkcode MirrorUpdater.refresh} found. */
export interface RefreshResult {
  index: Verified<IndexManifest>;
  rootVersion: number;
  timestampVersion: number;
  /** True when the mirror had published something since the cached copy (or there was none). */
  changed: boolean;
}

/**
 * A TiUP client's updater: fetches manifests from a mirror in TUF order, hands every byte to a
 * {@linkcode TrustedMetadataSet} (which does all the trusting) and keeps what verified in a
 * cache. All I/O lives here, and every read has a byte cap:
 *
 * 1. root: the cached root.json, else the trust anchor; then (when the timestamp fails its
 *    signature or expiry check, or the snapshot announces a newer root) `N+1.root.json`,
 *    `N+2.root.json`, … until one is missing. Only NotFoundError ends that walk; any other error
 *    aborts it, as in TiUP (§5.3). Cap 1 MiB each.
 * 2. timestamp.json, cap 1024 bytes; on a signature or expiry failure the root walk runs and
 *    the timestamp is fetched once more, as TiUP does.
 * 3. snapshot.json, cap = the timestamp's length; the cached copy is used when its sha256
 *    matches the timestamp's.
 * 4. `N.index.json`, cap = the snapshot's length for it.
 * 5. on request, `v.<component>.json`, cap likewise; and tarballs through
 *    {@linkcode fetchVerifiedTarball}, which commits nothing that fails its checks.
 *
 * @example
 * ```ts
 * const updater = new MirrorUpdater(openStorage("https://mirror.example"), {
 *   trustedRoot: await readFile("bin/root.json"),
 *   cache: new LocalStorage(`${home}/manifests`),
 * });
 * const { index } = await updater.refresh();
 * const tidb = await updater.component("tidb");
 * const item = tidb.signed.platforms["linux/amd64"]?.["v7.5.0"];
 * if (item) await updater.fetchVerifiedTarball(item, downloads, "tidb-v7.5.0.tar.gz");
 * ```
 */
export class MirrorUpdater {
  readonly #mirror: StorageReader;
  readonly #cache: Storage | undefined;
  readonly #trustedRoot: Uint8Array | undefined;
  readonly #now: Clock;
  readonly #onExpired: ((error: ExpiredError) => void) | undefined;
  #set: TrustedMetadataSet | undefined;

  constructor(mirror: StorageReader, options: MirrorUpdaterOptions = {}) {
    this.#mirror = mirror;
    this.#cache = options.cache;
    this.#trustedRoot = options.trustedRoot;
    this.#now = options.now ?? systemClock;
    this.#onExpired = options.onExpired;
  }

  /** The trusted set behind this updater; throws until {@linkcode refresh} has run. */
  get trusted(): TrustedMetadataSet {
    if (!this.#set) throw new TypeError("Call refresh() before reading trusted metadata");
    return this.#set;
  }

  /**
   * Brings root, timestamp, snapshot and index up to date with the mirror and returns the
   * verified index. Throws the VerificationError (signature, expiry, rollback, hash, length,
   * format), StorageError or DownloadError that stopped it; nothing unverified is cached.
   */
  async refresh(): Promise<RefreshResult> {
    const set = this.#set ??= await this.#loadTrustAnchor();
    const cachedTimestamp = await this.#cached("timestamp.json", MAX_TIMESTAMP_BYTES);
    if (cachedTimestamp) ignoreFailure(() => set.updateTimestamp(cachedTimestamp));

    let walked = false;
    let timestampBytes: Uint8Array;
    let snapshotBytes: Uint8Array | undefined;
    const cachedSnapshot = await this.#cached("snapshot.json");
    while (true) {
      timestampBytes = await readBytes(this.#mirror, "timestamp.json", {
        maxBytes: MAX_TIMESTAMP_BYTES,
      });
      try {
        set.updateTimestamp(timestampBytes);
      } catch (error) {
        // TiUP §5.2 A.5: a signature or expiry failure may mean the keys were rotated.
        if (walked || !(error instanceof SignatureError || error instanceof ExpiredError)) {
          throw error;
        }
        await this.#walkRoots(set);
        walked = true;
        continue;
      }
      const entry = set.timestamp!.signed.meta["/snapshot.json"]!;
      snapshotBytes = undefined;
      if (cachedSnapshot && sha256Hex(cachedSnapshot) === entry.hashes.sha256) {
        if (ignoreFailure(() => set.updateSnapshot(cachedSnapshot))) snapshotBytes = cachedSnapshot;
      }
      if (!snapshotBytes) {
        snapshotBytes = await readBytes(this.#mirror, "snapshot.json", { maxBytes: entry.length });
        set.updateSnapshot(snapshotBytes);
      }
      // §5.2 B.3: a snapshot that names a newer root triggers the walk, then a fresh start.
      const rootMeta = set.snapshotMeta("/root.json");
      if (!walked && rootMeta && rootMeta.version > set.root.signed.version) {
        await this.#walkRoots(set);
        walked = true;
        continue;
      }
      break;
    }

    // Snapshot before timestamp, as TiUP saves them: a crash in between leaves a timestamp
    // that still points at the snapshot in the cache or at one we will fetch again.
    const changed = !sameBytes(cachedTimestamp, timestampBytes);
    await this.#store("snapshot.json", snapshotBytes, cachedSnapshot);
    await this.#store("timestamp.json", timestampBytes, cachedTimestamp);

    const cachedIndex = await this.#cached("index.json");
    if (cachedIndex) ignoreFailure(() => set.updateIndex(cachedIndex));
    if (!set.index) {
      const source = set.indexSource();
      const bytes = await readBytes(this.#mirror, source.path, { maxBytes: source.maxBytes });
      set.updateIndex(bytes);
      await this.#store("index.json", bytes, cachedIndex);
    }
    return {
      index: set.index!,
      rootVersion: set.root.signed.version,
      timestampVersion: set.timestamp!.signed.version,
      changed,
    };
  }

  /**
   * The verified manifest of a component listed in the index (yanked ones included: hiding
   * them is the caller's choice). Uses the cached copy when it is the version the snapshot
   * names; otherwise fetches `v.<name>.json` and caches it. Call {@linkcode refresh} first.
   */
  async component(name: string): Promise<Verified<ComponentManifest>> {
    const set = this.trusted;
    const known = set.component(name);
    if (known) return known;
    const source = set.componentSource(name);
    const cacheName = `${name}.json`;
    // Not capped at the snapshot's length: a cached copy of another length is an older manifest
    // (a yank makes one a byte shorter), which updateComponent turns down and we fetch again.
    const cached = await this.#cached(cacheName);
    if (cached && ignoreFailure(() => set.updateComponent(name, cached))) {
      return set.component(name)!;
    }
    const bytes = await readBytes(this.#mirror, source.path, { maxBytes: source.maxBytes });
    const verified = set.updateComponent(name, bytes);
    await this.#store(cacheName, bytes, cached);
    return verified;
  }

  /**
   * Whether the mirror holds the tarball of a version item (a stat, nothing read). False only
   * when the mirror says it is absent (NotFoundError); other failures are thrown. Lets a client
   * tell a version yanked by its publisher from one a clone listed but did not copy.
   */
  async tarballExists(item: VersionItem): Promise<boolean> {
    try {
      await this.#mirror.stat(urlToPath(item.url));
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  /**
   * Streams the tarball of a verified version item from the mirror into `into` at `path`,
   * hashing it as it passes. The length and every listed hash (sha256 and sha512) are checked
   * before the write is committed: on a mismatch the stream fails, Storage.write (atomic: temp
   * file, then rename) never puts anything at `path`, and LengthMismatchError or
   * HashMismatchError is thrown. A body longer than the item says is cut off at that length.
   */
  async fetchVerifiedTarball(item: VersionItem, into: Storage, path: string): Promise<FileStat> {
    const set = this.trusted;
    const source = urlToPath(item.url);
    const object = await this.#mirror.read(source, { maxBytes: item.length }).catch((error) => {
      // A body over the signed length is a verification failure, not a network one.
      if (!(error instanceof TooLargeError)) throw error;
      throw new LengthMismatchError(
        `Cannot trust "${source}": it is longer than the ${item.length} bytes its manifest says`,
        { cause: error },
      );
    });
    let failure: Error | undefined;
    const verifying = hashingStream(["sha256", "sha512"], {
      onChunk: (_chunk, length) => {
        if (length <= item.length) return;
        throw failure = new LengthMismatchError(
          `Cannot trust "${source}": it is longer than the ${item.length} bytes its manifest says`,
        );
      },
      check: (digest) => {
        try {
          set.checkTarball(item, digest);
        } catch (error) {
          throw failure = error as Error;
        }
      },
    });
    try {
      return await into.write(path, bodyStream(object).pipeThrough(verifying.stream));
    } catch (error) {
      throw failure ?? error;
    }
  }

  async #loadTrustAnchor(): Promise<TrustedMetadataSet> {
    const cached = await this.#cached("root.json", MAX_ROOT_BYTES);
    const anchor = cached ?? this.#trustedRoot;
    if (!anchor) {
      throw new UsageError(
        `Cannot verify "${this.#mirror.location}": no trusted root.json (set the mirror first)`,
      );
    }
    return new TrustedMetadataSet(anchor, {
      now: this.#now,
      ...(this.#onExpired ? { onExpired: this.#onExpired } : {}),
    });
  }

  /** §5.3: the root walk, keeping every root it trusts (and the newest as root.json). */
  async #walkRoots(set: TrustedMetadataSet): Promise<void> {
    await walkRootChain(set, this.#mirror, {
      onTrusted: async (file, bytes) => {
        await this.#store(file, bytes);
        await this.#store("root.json", bytes);
      },
    });
  }

  /**
   * A cached manifest's bytes, or undefined when there is none or it is over `maxBytes`: the
   * cache only saves downloads, everything read from it is verified again, so a copy that
   * cannot be right is fetched afresh instead of failing the client until the next
   * `mirror set`.
   */
  async #cached(name: string, maxBytes = MAX_MANIFEST_BYTES): Promise<Uint8Array | undefined> {
    if (!this.#cache) return undefined;
    try {
      return await readBytes(this.#cache, name, { maxBytes });
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof TooLargeError) return undefined;
      throw error;
    }
  }

  async #store(name: string, bytes: Uint8Array, previous?: Uint8Array): Promise<void> {
    if (!this.#cache || sameBytes(previous, bytes)) return;
    await this.#cache.write(name, bytes);
  }
}

/** Runs a trust step whose failure only means "not usable from the cache"; true when it worked. */
function ignoreFailure(step: () => unknown): boolean {
  try {
    step();
    return true;
  } catch {
    return false;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i]);
}
