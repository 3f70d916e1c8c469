import { hashStream } from "../format/hash.ts";
import {
  ExpiredError,
  HashMismatchError,
  LengthMismatchError,
  ManifestFormatError,
  NotFoundError,
  RollbackError,
  SignatureError,
  TooLargeError,
  VerificationError,
} from "../errors.ts";
import type { ProgressEvent } from "../progress_events.ts";
import { bodyStream, readBytes } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import { decodeManifest, type ManifestTypes } from "../format/decode_manifest.ts";
import { MAX_ROOT_BYTES, MAX_TIMESTAMP_BYTES } from "../format/repo_defaults.ts";
import type { ManifestType, VersionItem } from "../format/manifest_types.ts";
import { TrustedMetadataSet } from "../trust/trusted_set.ts";
import { walkRootChain } from "../trust/walk_root_chain.ts";
import { urlToPath } from "../format/versioned_name.ts";
import { JOURNAL_PATH, readJournal } from "../writer/commit_journal.ts";
import { forEachLimited } from "../for_each_limited.ts";

/** What kind of problem a file has, for scripts reading `--json`. */
export type ProblemKind =
  | "signature"
  | "expired"
  | "rollback"
  | "hash"
  | "length"
  | "format"
  | "missing"
  | "too-large"
  | "verification"
  | "interrupted"
  | "error";

/** One problem (or warning) found in one file. */
export interface MirrorProblem {
  /** The mirror path it is about ("3.index.json", "tidb-v1.0.0-linux-amd64.tar.gz"). */
  file: string;
  kind: ProblemKind;
  message: string;
}

/** What {@linkcode verifyMirror} found. */
export interface MirrorReport {
  /** True when there are no problems (warnings do not count). */
  ok: boolean;
  problems: MirrorProblem[];
  /** Things a TiUP client tolerates but that deserve attention (legacy manifest fields). */
  warnings: MirrorProblem[];
  counts: {
    /** Manifest files read and checked. */
    manifests: number;
    components: number;
    /** Tarball files read and hashed. */
    tarballs: number;
    /** Tarball bytes hashed. */
    bytes: number;
  };
  /** Versions of the trusted chain, where it got that far. */
  versions: { root?: number; timestamp?: number; index?: number };
}

/** Options for {@linkcode verifyMirror}. */
export interface VerifyMirrorOptions {
  /** The trust anchor (`--root`); default the mirror's own root.json, else 1.root.json. */
  root?: Uint8Array;
  /** The anchor's name in messages. */
  rootFile?: string;
  /** The time to verify at. Default: now. */
  now?: Date;
  /** Tarballs hashed at once. Default 4. */
  concurrency?: number;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/**
 * Audits a whole mirror as a client would and lists every problem with the file it is in,
 * continuing past failures where the files below still have a trusted parent:
 *
 * - the root chain from the anchor through every `N+1.root.json` (double threshold, N+1, no
 *   earlier expiry), and that the newest root has not expired and is the one the snapshot names;
 * - timestamp.json (≤ 1024 bytes), snapshot.json (hash and length bound to the timestamp),
 *   `N.index.json` and every component manifest the snapshot lists, with all the rules of
 *   {@linkcode TrustedMetadataSet}; expiry problems are reported and the audit goes on;
 * - every tarball referenced by a non-yanked version of a non-yanked component on any platform:
 *   present, the right length, sha256 and sha512 as listed. Tarballs are stream-hashed with
 *   bounded concurrency, so memory stays flat however large they are.
 *
 * Never throws for what it finds in the mirror; problems go in the report (`ok` is false).
 */
export async function verifyMirror(
  mirror: StorageReader,
  options: VerifyMirrorOptions = {},
): Promise<MirrorReport> {
  const now = options.now ?? new Date();
  const problems: MirrorProblem[] = [];
  const warnings: MirrorProblem[] = [];
  const report: MirrorReport = {
    ok: false,
    problems,
    warnings,
    counts: { manifests: 0, components: 0, tarballs: 0, bytes: 0 },
    versions: {},
  };
  const problem = (file: string, error: unknown) => problems.push(toProblem(file, error));
  const finish = () => {
    report.ok = problems.length === 0;
    return report;
  };
  const noteLegacy = (bytes: Uint8Array, type: ManifestType, file: string) => {
    try {
      const legacy = decodeManifest(bytes, type as keyof ManifestTypes, file).legacyFields;
      if (legacy.length > 0) {
        warnings.push({
          file,
          kind: "format",
          message: `"${file}" has fields outside TiUP's current set, which Go clients cannot ` +
            `re-verify from their cache: ${legacy.join(", ")}`,
        });
      }
    } catch {
      // Reported by the trusted set.
    }
  };

  // A writer killed mid-transaction: the next writer finishes it, so say which command that is.
  try {
    const journal = await readJournal(mirror);
    if (journal) {
      const what = journal.kind === "create"
        ? `the creation of this mirror (${journal.id}, started ${journal.started}) was interrupted`
        : `the commit ${journal.id} (started ${journal.started}) was interrupted`;
      problems.push({
        file: JOURNAL_PATH,
        kind: "interrupted",
        message: `A writer was killed (or is running right now): ${what}; any writer command ` +
          `completes or rolls it back, ` +
          `e.g. "ferry mirror renew --mirror ${mirror.location}"` +
          (journal.kind === "create" ? ` (or run "ferry mirror init" again)` : ""),
      });
    }
  } catch (error) {
    // A garbled journal is a problem; a server that will not say (HTTP errors) is not.
    if (error instanceof VerificationError) problem(JOURNAL_PATH, error);
  }

  // Root: the anchor, then the chain.
  let anchorFile = options.rootFile ?? "root.json";
  let anchor = options.root;
  if (!anchor) {
    anchor = await readOptional(mirror, "root.json", MAX_ROOT_BYTES, problem);
    if (!anchor) {
      problems.push({
        file: "root.json",
        kind: "missing",
        message: `Cannot find "root.json", which clients bootstrap from ("mirror set")`,
      });
      anchorFile = "1.root.json";
      anchor = await readOptional(mirror, "1.root.json", MAX_ROOT_BYTES, problem);
      if (!anchor) return finish();
    }
  }
  // Expiry problems are reported against the file being taken at the time: during the walk, the
  // newest root (whose freshness the walk checks last).
  let current = anchorFile;
  let set: TrustedMetadataSet;
  try {
    set = new TrustedMetadataSet(anchor, {
      now: () => now,
      rootFile: anchorFile,
      onExpired: (error) => problem(current, error),
    });
  } catch (error) {
    problem(anchorFile, error);
    return finish();
  }
  report.counts.manifests++;
  try {
    await walkRootChain(set, mirror, {
      onTrusted: () => {
        report.counts.manifests++;
        current = set.rootFile;
      },
    });
  } catch (error) {
    // The root that failed was read (and counted as checked) unless reading it failed.
    if (error instanceof VerificationError) report.counts.manifests++;
    problem(`${set.root.signed.version + 1}.root.json`, error);
    current = set.rootFile;
    set.checkRootFresh();
  }
  report.versions.root = set.root.signed.version;

  // Timestamp and snapshot: without them nothing below can be trusted.
  current = "timestamp.json";
  const timestamp = await readOptional(mirror, current, MAX_TIMESTAMP_BYTES, problem, true);
  if (!timestamp) return finish();
  report.counts.manifests++;
  if (!take(current, () => set.updateTimestamp(timestamp))) return finish();
  report.versions.timestamp = set.timestamp!.signed.version;

  current = "snapshot.json";
  const entry = set.timestamp!.signed.meta["/snapshot.json"]!;
  const snapshot = await readOptional(mirror, current, entry.length, problem, true);
  if (!snapshot) return finish();
  report.counts.manifests++;
  if (!take(current, () => set.updateSnapshot(snapshot))) return finish();
  const rootMeta = set.snapshotMeta("/root.json");
  if (rootMeta && rootMeta.version !== set.root.signed.version) {
    // A newer root announced but not found is what clients trip over; an older one is stale.
    (rootMeta.version > set.root.signed.version ? problems : warnings).push({
      file: "snapshot.json",
      kind: "verification",
      message: `snapshot.json lists root v${rootMeta.version}, but the newest root found is ` +
        `v${set.root.signed.version}`,
    });
  }

  // Index.
  let indexSource: { path: string; maxBytes: number };
  try {
    indexSource = set.indexSource();
  } catch (error) {
    problem("snapshot.json", error);
    return finish();
  }
  current = indexSource.path;
  const indexBytes = await readOptional(mirror, current, indexSource.maxBytes, problem, true);
  if (!indexBytes) return finish();
  report.counts.manifests++;
  noteLegacy(indexBytes, "index", current);
  if (!take(current, () => set.updateIndex(indexBytes))) return finish();
  const index = set.index!.signed;
  report.versions.index = index.version;

  // Components: every one the snapshot lists, and every one the index lists.
  const listed = Object.keys(set.snapshot!.signed.meta)
    .filter((url) => url !== "/root.json" && url !== "/index.json")
    .map((url) => url.replace(/^\//, "").replace(/\.json$/, ""));
  for (const name of Object.keys(index.components)) {
    if (!listed.includes(name)) {
      problems.push({
        file: `${name}.json`,
        kind: "missing",
        message: `Component "${name}" is in the index but snapshot.json does not list it`,
      });
    }
  }
  const tarballs = new Map<string, { items: VersionItem[]; largest: number }>();
  for (const name of listed) {
    let source: { path: string; maxBytes: number };
    try {
      source = set.componentSource(name);
    } catch (error) {
      problem(`${name}.json`, error);
      continue;
    }
    current = source.path;
    const bytes = await readOptional(mirror, current, source.maxBytes, problem, true);
    if (!bytes) continue;
    report.counts.manifests++;
    noteLegacy(bytes, "component", current);
    if (!take(current, () => set.updateComponent(name, bytes))) continue;
    report.counts.components++;
    if (index.components[name]!.yanked) continue;
    for (const versions of Object.values(set.component(name)!.signed.platforms)) {
      for (const item of Object.values(versions)) {
        // TiUP treats an item without an entry as absent (Component.VersionItem).
        if (item.yanked || item.entry === "") continue;
        const path = urlToPath(item.url);
        const known = tarballs.get(path) ?? { items: [], largest: 0 };
        known.items.push(item);
        known.largest = Math.max(known.largest, item.length);
        tarballs.set(path, known);
      }
    }
  }

  await checkTarballs(mirror, set, tarballs, report, problem, options);
  return finish();

  function take(file: string, step: () => unknown): boolean {
    current = file;
    try {
      step();
      return true;
    } catch (error) {
      problem(file, error);
      return false;
    }
  }
}

async function checkTarballs(
  mirror: StorageReader,
  set: TrustedMetadataSet,
  tarballs: Map<string, { items: VersionItem[]; largest: number }>,
  report: MirrorReport,
  problem: (file: string, error: unknown) => void,
  options: VerifyMirrorOptions,
): Promise<void> {
  const queue = [...tarballs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const bytesTotal = queue.reduce((sum, [, t]) => sum + t.largest, 0);
  let filesDone = 0;
  const progress = () =>
    options.onProgress?.({
      filesDone,
      filesTotal: queue.length,
      bytesDone: report.counts.bytes,
      bytesTotal,
    });
  progress();
  await forEachLimited(queue, options.concurrency ?? 4, async ([path, { items, largest }]) => {
    if (options.signal?.aborted) return; // stop hashing; what was found so far is reported
    try {
      const object = await mirror.read(path, { maxBytes: largest });
      const facts = await hashStream(bodyStream(object));
      report.counts.tarballs++;
      report.counts.bytes += facts.length;
      const seen = new Set<string>();
      for (const item of items) {
        try {
          set.checkTarball(item, facts);
        } catch (error) {
          const message = (error as Error).message;
          if (!seen.has(message)) problem(path, error);
          seen.add(message);
        }
      }
    } catch (error) {
      problem(
        path,
        error instanceof TooLargeError
          ? new LengthMismatchError(
            `Cannot trust "${path}": it is larger than the ${largest} bytes its manifest says`,
          )
          : error,
      );
    }
    filesDone++;
    progress();
  });
}

async function readOptional(
  mirror: StorageReader,
  path: string,
  maxBytes: number,
  problem: (file: string, error: unknown) => void,
  required = false,
): Promise<Uint8Array | undefined> {
  try {
    return await readBytes(mirror, path, { maxBytes });
  } catch (error) {
    if (required || !(error instanceof NotFoundError)) problem(path, error);
    return undefined;
  }
}

function toProblem(file: string, error: unknown): MirrorProblem {
  const message = error instanceof Error ? error.message : String(error);
  return { file, kind: kindOf(error), message };
}

function kindOf(error: unknown): ProblemKind {
  if (error instanceof SignatureError) return "signature";
  if (error instanceof ExpiredError) return "expired";
  if (error instanceof RollbackError) return "rollback";
  if (error instanceof HashMismatchError) return "hash";
  if (error instanceof LengthMismatchError) return "length";
  if (error instanceof ManifestFormatError || error instanceof SyntaxError) return "format";
  if (error instanceof NotFoundError) return "missing";
  if (error instanceof TooLargeError) return "too-large";
  if (error instanceof VerificationError) return "verification";
  return "error";
}
