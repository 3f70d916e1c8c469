import { NotFoundError, UsageError } from "../../errors.ts";
import type { ProgressEvent } from "../../progress_events.ts";
import { bodyStream, readBytes } from "../../storage/read_bytes.ts";
import type { Storage, StorageReader } from "../../storage/storage.ts";
import { downloadFiles, type FileFailure } from "../clone/download_files.ts";
import { hashStream } from "../../format/hash.ts";
import type { SigningKey } from "../../format/key_info.ts";
import { loadComponentManifest } from "../../trust/load_component_manifest.ts";
import type { ComponentManifest, IndexManifest } from "../../format/manifest_types.ts";
import { MirrorUpdater } from "../../trust/mirror_updater.ts";
import { publishComponent } from "../../writer/publish_component.ts";
import { MAX_ROOT_BYTES } from "../../format/repo_defaults.ts";
import { loadRepositoryState } from "../../trust/load_verified_state.ts";
import { tarballName } from "../../format/versioned_name.ts";
import { type MergeConflict, planMerge } from "./plan_merge.ts";

/** Where a merge stages verified tarballs before publishing them (a dotfile: never served). */
const STAGING = ".ferry-staging/merge/";

/** Options for {@linkcode mergeMirror}. */
export interface MergeOptions {
  /** Private keys by key ID (`--key-dir`, `$FERRY_HOME/keys`); owners are matched by ID. */
  keys: ReadonlyMap<string, SigningKey>;
  /** Owner of components new to the base, when the source's owner is not one of the base's. */
  owner?: string;
  /** The source's root.json to trust. Default: its own, trusted on first use. */
  trustedRoot?: Uint8Array;
  now?: Date;
  jobs?: number;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/** One build merged into the base. */
export interface MergedBuild {
  component: string;
  version: string;
  platform: string;
}

/** What {@linkcode mergeMirror} did. */
export interface MergeReport {
  source: string;
  added: MergedBuild[];
  /** Builds the base already had with the same content. */
  alreadyPresent: number;
  /** Same component, version and platform with other content: left alone. */
  conflicts: MergeConflict[];
  /** Tarballs the source's manifests list but the source does not have. */
  missing: string[];
  /** Tarballs that failed verification or transfer, with the error itself. */
  failed: FileFailure[];
  notes: string[];
}

/**
 * Merges the components and versions of `source` into the mirror `base` (`ferry mirror merge`,
 * TIUP-FORMAT.md §6.2, verified where TiUP trusts blindly):
 *
 * - the source is verified as a client verifies it (root chain, timestamp, snapshot, index,
 *   components against their owners), from `trustedRoot` or its own root.json;
 * - each build the base lacks is fetched into the base's staging area, checked against the
 *   source's signed length and SHA-256, and published through the writer's publish path (one
 *   locked transaction per build, as TiUP does), signed with the key of the component's owner
 *   in the base — found by key ID in `keys`, so keys can come from `--key-dir` (issue #1120);
 * - a component new to the base goes to `owner`, else to the source's owner ID when the base
 *   has it, else to the one base owner whose key is at hand;
 * - a build the base has with other content is a conflict: reported, never overwritten.
 *
 * Missing owner keys are a UsageError before anything is fetched or written.
 */
export async function mergeMirror(
  base: Storage,
  source: StorageReader,
  options: MergeOptions,
): Promise<MergeReport> {
  const now = options.now ?? new Date();
  const notes: string[] = [];
  const trustedRoot = options.trustedRoot ??
    await readBytes(source, "root.json", { maxBytes: MAX_ROOT_BYTES });
  const updater = new MirrorUpdater(source, { trustedRoot, now: () => now });
  const sourceIndex = (await updater.refresh()).index.signed;
  const sourceComponents = new Map<string, ComponentManifest>();
  for (const [id, item] of Object.entries(sourceIndex.components)) {
    if (!item.yanked) sourceComponents.set(id, (await updater.component(id)).signed);
  }

  const state = await loadRepositoryState(base, { now });
  const baseIndex = state.index.manifest.signed;
  const baseComponents = new Map<string, ComponentManifest>();
  for (const id of sourceComponents.keys()) {
    const loaded = await loadComponentManifest(base, state, id);
    if (loaded) baseComponents.set(id, loaded.manifest.signed);
  }
  const plan = planMerge(
    { index: baseIndex, components: baseComponents },
    { index: sourceIndex, components: sourceComponents },
  );
  notes.push(...plan.notes);

  // Every signer first: a missing key stops the merge before anything is fetched.
  const signers = new Map<string, SigningKey[]>();
  for (const id of new Set(plan.additions.map((a) => a.component))) {
    signers.set(id, ownerKeysFor(id, baseIndex, sourceIndex, options));
  }

  // Fetch and verify every tarball into the staging area.
  const staged = (addition: (typeof plan.additions)[number]) => {
    const [os = "", arch = ""] = addition.platform.split("/");
    return `${STAGING}${tarballName(addition.component, addition.version, os, arch)}`;
  };
  const fetched = await downloadFiles(
    source,
    base,
    plan.additions.map((a) => ({
      path: staged(a),
      sourcePath: a.item.url.replace(/^\/+/, ""),
      expected: [{ length: a.item.length, sha256: String(a.item.hashes.sha256) }],
      replace: true,
    })),
    {
      ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  const ready = new Set([...fetched.downloaded, ...fetched.skipped]);

  const added: MergedBuild[] = [];
  for (const addition of plan.additions) {
    const path = staged(addition);
    if (!ready.has(path)) continue;
    if (options.signal?.aborted) throw options.signal.reason;
    const isNew = !Object.hasOwn(baseIndex.components, addition.component) &&
      !added.some((a) => a.component === addition.component);
    const sha512 = typeof addition.item.hashes.sha512 === "string"
      ? addition.item.hashes.sha512
      : await sha512Of(base, path);
    const result = await publishComponent(base, {
      component: addition.component,
      version: addition.version,
      platform: addition.platform,
      entry: addition.item.entry,
      tarball: {
        sha256: String(addition.item.hashes.sha256),
        sha512,
        length: addition.item.length,
        name: path.slice(STAGING.length),
        open: async () => bodyStream(await base.read(path)),
      },
      ...(isNew
        ? {
          description: addition.description,
          hidden: addition.hidden,
          standalone: addition.standalone,
        }
        : {}),
    }, { key: signers.get(addition.component)!, now });
    notes.push(...result.notes.filter((n) => !n.includes("--standalone")));
    notes.push(...result.warnings);
    added.push({
      component: addition.component,
      version: addition.version,
      platform: addition.platform,
    });
    await base.delete(path).catch((error) => {
      if (!(error instanceof NotFoundError)) throw error;
    });
  }
  return {
    source: source.location,
    added,
    alreadyPresent: plan.alreadyPresent,
    conflicts: plan.conflicts,
    missing: fetched.missing.map((p) =>
      plan.additions.find((a) => staged(a) === p)?.item.url.slice(1) ?? p
    ),
    failed: fetched.failed,
    notes,
  };
}

/** The base owner's keys that will sign `id`, or a UsageError saying which key is missing. */
function ownerKeysFor(
  id: string,
  baseIndex: IndexManifest,
  sourceIndex: IndexManifest,
  options: MergeOptions,
): SigningKey[] {
  const held = (ownerId: string) => {
    const owner = baseIndex.owners[ownerId];
    if (!owner) return [];
    return Object.keys(owner.keys).flatMap((k) => options.keys.get(k) ?? []);
  };
  const enough = (ownerId: string) =>
    held(ownerId).length >= (baseIndex.owners[ownerId]?.threshold ?? Infinity);
  const describe = (ownerId: string) => {
    const owner = baseIndex.owners[ownerId]!;
    return `owner "${ownerId}" needs ${owner.threshold} of its keys (${
      Object.keys(owner.keys).map((k) => k.slice(0, 16)).join(", ")
    }) and ${held(ownerId).length} are at hand; pass the folder holding them with --key-dir`;
  };
  const existing = Object.hasOwn(baseIndex.components, id)
    ? baseIndex.components[id]!.owner
    : undefined;
  let ownerId: string | undefined = existing ?? options.owner;
  if (ownerId === undefined) {
    const sourceOwner = sourceIndex.components[id]?.owner;
    if (sourceOwner && enough(sourceOwner)) ownerId = sourceOwner;
    else {
      const candidates = Object.keys(baseIndex.owners).filter(enough);
      if (candidates.length === 1) ownerId = candidates[0];
      else {
        throw new UsageError(
          candidates.length === 0
            ? `Cannot merge the new component "${id}": no owner of the mirror has a key at hand; ` +
              `pass the folder holding an owner's key with --key-dir (or grant one first)`
            : `Cannot merge the new component "${id}": owners ${
              candidates.map((c) => `"${c}"`).join(", ")
            } could own it; choose one with --owner`,
        );
      }
    }
  }
  if (!baseIndex.owners[ownerId!]) {
    throw new UsageError(`Cannot merge "${id}": the mirror has no owner "${ownerId}"`);
  }
  if (!enough(ownerId!)) {
    throw new UsageError(`Cannot merge "${id}": ${describe(ownerId!)}`);
  }
  const owner = baseIndex.owners[ownerId!]!;
  return held(ownerId!).slice(0, Math.max(owner.threshold, 1));
}

async function sha512Of(storage: Storage, path: string): Promise<string> {
  return (await hashStream(bodyStream(await storage.read(path)), ["sha512"])).sha512;
}
