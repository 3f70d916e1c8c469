import { NotFoundError, UsageError } from "../../errors.ts";
import type { ProgressEvent } from "../../cli/progress.ts";
import { MemoryStorage } from "../../storage/memory_storage.ts";
import { bodyStream, readBytes } from "../../storage/read_bytes.ts";
import type { Storage, StorageReader } from "../../storage/storage.ts";
import { canonicalJson } from "../../format/canonical_json.ts";
import { generateSigningKey } from "../../format/generate_key.ts";
import { sha256Hex } from "../../format/hash.ts";
import { initRepository } from "../../writer/init_repository.ts";
import type { SigningKey } from "../../format/key_info.ts";
import { loadComponentManifest } from "../../trust/load_component_manifest.ts";
import type {
  ComponentItem,
  ComponentManifest,
  IndexManifest,
  VersionItem,
} from "../../format/manifest_types.ts";
import { normalizeManifest } from "../../format/normalize_manifest.ts";
import { privateKeyFileText } from "../../format/private_key_file.ts";
import { MAX_ROOT_BYTES, MIRROR_KEYS_PREFIX } from "../../format/repo_defaults.ts";
import { MirrorUpdater } from "../../trust/mirror_updater.ts";
import { loadRepositoryState, type RepositoryState } from "../../trust/load_verified_state.ts";
import { addDays, formatRfc3339 } from "../../format/rfc3339.ts";
import { updateRepository } from "../../writer/update_repository.ts";
import { createWithJournal } from "../../writer/commit_journal.ts";
import { acquireMirrorLock } from "../../writer/mirror_lock.ts";
import { recoverInterruptedCommit } from "../../writer/recover_interrupted_commit.ts";
import { componentUrl } from "../../format/versioned_name.ts";
import { INSTALL_SCRIPT, renderInstallScript } from "../install_scripts/render_install_script.ts";
import {
  LOCAL_INSTALL_SCRIPT,
  renderLocalInstallScript,
} from "../install_scripts/render_local_install_script.ts";
import { buildCloneComponent } from "./build_clone_component.ts";
import { copyWithinTarget } from "./copy_within_target.ts";
import { downloadFiles, type FileFailure, type FileTask, sha512Of } from "./download_files.ts";
import { isSafeTarballUrl } from "./is_safe_tarball_url.ts";
import { latestStable } from "../../format/latest_stable.ts";
import { loadSigningKeys } from "./load_signing_keys.ts";
import { packageSelf } from "./package_self.ts";
import { selectVersions } from "./select_versions.ts";
import { openVerifiedJournal, type VerifiedJournal } from "./verified_journal.ts";
import { forEachLimited } from "../../for_each_limited.ts";

/** TiUP's clone signs everything for 50 years (clone_mirror.go); an offline mirror must not go stale. */
export const CLONE_EXPIRY_DAYS = 50 * 365;
/** The owner a clone signs its components as, named as TiUP's clone names it. */
export const CLONE_OWNER_ID = "pingcap";
const CLONE_OWNER_NAME = "PingCAP";
/** TiUP's default platforms for clone (`-o linux,darwin -a amd64,arm64`). */
export const DEFAULT_CLONE_OS = ["linux", "darwin"];
export const DEFAULT_CLONE_ARCH = ["amd64", "arm64"];

/** The ferry binaries to publish into the clone as the `ferry` component. */
export interface SelfBinaryOptions {
  /** TiUP-style version ("v0.1.0"). */
  version: string;
  /** The executable for each platform one is available for: "linux/arm64" → path. */
  binaries: Record<string, string>;
  /** Where binaries for more platforms were looked for, named in the note about missing ones. */
  searched?: string;
  /** Where each platform's packed tarball is kept between clones (see packageSelf). */
  packCaches?: Record<string, string>;
}

/** Options for {@linkcode cloneMirror}. */
export interface CloneOptions {
  /** Operating systems to carry (default linux, darwin; with `full`, every one the source has). */
  os?: string[];
  /** Architectures to carry (default amd64, arm64; with `full`, every one the source has). */
  arch?: string[];
  /** Every version of every component (`-f/--full`). */
  full?: boolean;
  /** Versions select by prefix (`--prefix`). */
  prefix?: boolean;
  /** Per-component versions (`--tidb v7.5.0,latest`): name → values. */
  components?: Record<string, string[]>;
  /** Global versions (positional arguments). */
  versions?: string[];
  /** Replace target files whose content differs from the source. */
  overwrite?: boolean;
  /** Parallel transfers (default 8). */
  jobs?: number;
  now?: Date;
  /**
   * Publish these ferry binaries, one per selected platform, as the `ferry` component and as
   * `ferry-<os>-<arch>.tar.gz`.
   */
  self?: SelfBinaryOptions;
  /**
   * The source's root.json to trust (`--source-root`, a profile's bin/root.json). Default: the
   * source's own root.json, trusted on first use (as `tiup mirror set` does).
   */
  trustedRoot?: Uint8Array;
  /**
   * A client profile's verified-manifest cache for the source (its `manifests/` directory): its
   * root is the trust anchor and its versions the rollback floor, and it is updated.
   */
  sourceCache?: Storage;
  /** The URL clients will use, baked into install.sh. */
  publicUrl?: string;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
  /** Makes the keys of a new clone (default: fresh RSA-2048 keys; tests hand out prepared ones). */
  generateKey?: () => Promise<SigningKey>;
}

/** One component of the clone. */
export interface ClonedComponent {
  id: string;
  /** Versions clients can install, counted once per platform. */
  versions: number;
  /** Whether this run wrote a new manifest for it. */
  changed: boolean;
}

/** What {@linkcode cloneMirror} did. */
export interface CloneReport {
  /** The target had no mirror before this run. */
  created: boolean;
  components: ClonedComponent[];
  downloaded: string[];
  skipped: string[];
  /** Files the source's manifests list but the source does not have (404). */
  missing: string[];
  /** Target files with other content than the source's, left alone (use `overwrite`). */
  conflicts: string[];
  /**
   * Files that failed verification or transfer, with the error itself (a VerificationError, a
   * DownloadError…): the caller's exit code depends on which.
   */
  failed: FileFailure[];
  bytes: number;
  /** Whether manifests were written (false for a refresh that found nothing new). */
  changed: boolean;
  timestampVersion: number;
  notes: string[];
  /** Platforms whose ferry binary was packed this run (not found already in the target). */
  packed: string[];
  /**
   * Selected platforms the clone carries no ferry for: no binary was given and the source has
   * none, so local_install.sh cannot install ferry there. Only when `self` was given.
   */
  ferryMissing: string[];
}

interface Pick {
  id: string;
  platform: string;
  version: string;
  item: VersionItem;
}

/**
 * Clones `source` into `target` as a new signed repository (TIUP-FORMAT.md §6.1, ferry's
 * refresh-safe version):
 *
 * - the source is verified as a client verifies it (the verifier's MirrorUpdater: root chain,
 *   timestamp, snapshot, index, every component against its owner, expiry and rollback), from
 *   `trustedRoot` or the source's own root.json; every tarball is checked against its signed
 *   length and SHA-256 while it streams, before it becomes visible;
 * - the target keeps its keys across runs (TiUP re-keys and strands every client, #2018): a
 *   first run creates a repository (3 root keys, one per other role, and the owner `pingcap`,
 *   all in `<target>/keys`, signed for 50 years), later runs verify it with its own root and
 *   sign with the same keys;
 * - component manifests are re-signed by the target's owner, listing unselected versions as
 *   yanked; versions the target carried before stay usable; a refresh bumps component, index
 *   and timestamp versions only where something changed, so clients that trust the earlier
 *   clone accept the new one, and a refresh that finds nothing new writes no manifest;
 * - files already in place are not fetched again (#1704), a 404 does not stop the rest (#1111);
 * - manifests are written last, through the writer's transaction (components → index →
 *   snapshot → timestamp), so a crash leaves the previous consistent state;
 * - `tiup-<os>-<arch>.tar.gz` is carried when it matches a signed tiup version, the `self` binary
 *   is published as the `ferry` component, and `local_install.sh` and `install.sh` are written.
 *
 * Throws UsageError for bad requests (an unknown component, a version that matches nothing) and
 * VerificationError when the source or an existing target does not verify; nothing is written
 * to the target's manifests then.
 */
export async function cloneMirror(
  source: StorageReader,
  target: Storage,
  options: CloneOptions = {},
): Promise<CloneReport> {
  const now = options.now ?? new Date();
  const expires = formatRfc3339(addDays(now, CLONE_EXPIRY_DAYS));
  const notes: string[] = [];

  // The source, verified as a client verifies it (the verifier's updater, TUF order).
  let trustedRoot = options.trustedRoot;
  if (!trustedRoot && !options.sourceCache) {
    trustedRoot = await readBytes(source, "root.json", { maxBytes: MAX_ROOT_BYTES });
    notes.push(
      `Trusting "${source.location}/root.json" on first use (pin it with --source-root FILE)`,
    );
  }
  const updater = new MirrorUpdater(source, {
    ...(trustedRoot ? { trustedRoot } : {}),
    ...(options.sourceCache ? { cache: options.sourceCache } : {}),
    now: () => now,
  });
  const srcIndex = (await updater.refresh()).index.signed;
  for (const name of Object.keys(options.components ?? {})) {
    if (!Object.hasOwn(srcIndex.components, name)) {
      throw new UsageError(
        `Cannot clone component "${name}": the source mirror "${source.location}" has no such component`,
      );
    }
  }

  // The target: an existing repository (verified with its own root), or a new one.
  const generateKey = options.generateKey ?? (async () => (await generateSigningKey()).key);
  const opened = await openTarget(target, now, generateKey);
  let state = opened.state;
  const keys = await loadSigningKeys(target, MIRROR_KEYS_PREFIX);
  const owner = await ownerKey(target, state, keys, generateKey);

  const wanted = Object.keys(srcIndex.components).filter((id) => {
    const item = srcIndex.components[id]!;
    return !item.yanked && (
      options.full || (options.versions?.length ?? 0) > 0 || id in (options.components ?? {}) ||
      id === "tiup" || id === "ferry" || Object.hasOwn(state.index.manifest.signed.components, id)
    );
  });
  const ours = Object.entries(state.index.manifest.signed.components)
    .filter(([, item]) => item.owner === CLONE_OWNER_ID).map(([id]) => id);
  const [upstream, previous] = await Promise.all([
    loadUpstream(updater, wanted, options.jobs),
    loadAll(target, state, ours, options.jobs),
  ]);
  const platforms = choosePlatforms(options, upstream);

  // What to carry.
  const sourcePicks: Pick[] = [];
  const keptPicks: Pick[] = [];
  // ferry itself, for each selected platform it has a binary for.
  const selfBinaries = new Map(
    Object.entries(options.self?.binaries ?? {}).filter(([p]) => platforms.includes(p)),
  );
  const fromSource = new Set<string>();
  for (const id of new Set([...wanted, ...ours])) {
    const up = upstream.get(id);
    const prev = previous.get(id);
    const chosen = up
      ? selectVersions(up, platforms, {
        ...(options.full !== undefined ? { full: options.full } : {}),
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
        component: options.components?.[id],
        global: options.versions ?? [],
      })
      : { platforms: new Map<string, Set<string>>(), notes: [] };
    notes.push(...chosen.notes);
    if (up && id === "ferry") {
      // Installs need a client: carry the source's latest ferry wherever it has one.
      for (const platform of platforms) {
        const latest = latestStable(up.platforms[platform] ?? {});
        if (latest === undefined) continue;
        fromSource.add(platform);
        if (latest === options.self?.version && selfBinaries.delete(platform)) {
          notes.push(`The source already has ferry ${latest} for ${platform}: using that one`);
        }
        chosen.platforms.set(platform, (chosen.platforms.get(platform) ?? new Set()).add(latest));
      }
    }
    // What the target carried before stays: re-checked against the source when it still has
    // the same file, else checked in place against the target's own manifest.
    for (const [platform, versions] of Object.entries(prev?.platforms ?? {})) {
      for (const [version, item] of Object.entries(versions)) {
        if (item.yanked || item.entry === "") continue;
        const same = up?.platforms[platform]?.[version];
        if (same && !same.yanked && same.url === item.url && sameFile(same, item)) {
          chosen.platforms.set(
            platform,
            (chosen.platforms.get(platform) ?? new Set()).add(version),
          );
        } else if (isSafeTarballUrl(item.url)) {
          keptPicks.push({ id, platform, version, item });
        }
      }
    }
    for (const [platform, versions] of chosen.platforms) {
      for (const version of versions) {
        const item = up?.platforms[platform]?.[version];
        if (!item) continue;
        if (!isSafeTarballUrl(item.url)) {
          notes.push(
            `Skipping ${id} ${version} on ${platform}: its url "${item.url}" is not a plain file name`,
          );
          continue;
        }
        sourcePicks.push({ id, platform, version, item });
      }
    }
  }
  const ferryMissing = options.self
    ? platforms.filter((p) => p !== "any/any" && !selfBinaries.has(p) && !fromSource.has(p))
    : [];
  for (const platform of ferryMissing) {
    const where = options.self?.searched
      ? ` (looked for "${options.self.searched}/${platform.replace("/", "-")}/ferry")`
      : "";
    notes.push(
      `No ferry binary for ${platform}${where}: local_install.sh cannot install ferry there; ` +
        `build one with scripts/build_binary.sh --all`,
    );
  }

  // TiUP's installer tarballs, carried when they are a signed tiup version.
  const tiupTasks: FileTask[] = [];
  const tiup = upstream.get("tiup");
  for (const platform of tiup ? platforms : []) {
    if (platform === "any/any") continue;
    const versions = tiup!.platforms[platform] ?? {};
    const signed = Object.values(versions).filter((i) => !i.yanked && i.entry !== "");
    const latest = latestStable(versions);
    if (signed.length === 0 || latest === undefined) continue;
    tiupTasks.push({
      path: `tiup-${platform.replace("/", "-")}.tar.gz`,
      expected: signed.map(expectedOf),
      current: [expectedOf(versions[latest]!)],
      replace: true,
    });
  }

  // Transfers: from the source, then what stays in place.
  const journal = await openVerifiedJournal(target);
  const transferOptions = {
    ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
    ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
    journal,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const fetched = await downloadFiles(source, target, [
    ...sourcePicks.map((pick) => ({
      path: pick.item.url.slice(1),
      expected: [expectedOf(pick.item)],
    })),
    ...tiupTasks,
  ], transferOptions);
  const inPlace = await downloadFiles(
    target,
    target,
    keptPicks.map((pick) => ({ path: pick.item.url.slice(1), expected: [expectedOf(pick.item)] })),
    { ...transferOptions, onProgress: () => {} },
  );
  const present = new Set([...fetched.downloaded, ...fetched.skipped]);
  const carried = groupPicks(sourcePicks.filter((p) => present.has(p.item.url.slice(1))));
  const kept = groupPicks(keptPicks.filter((p) => inPlace.skipped.includes(p.item.url.slice(1))));
  const tiupPaths = new Set(tiupTasks.map((t) => t.path));
  for (const path of fetched.missing.filter((p) => tiupPaths.has(p))) {
    notes.push(`The source has no "${path}": TiUP's installer is not carried for that platform`);
  }

  // ferry itself.
  const extra = new Map<string, Record<string, Record<string, VersionItem>>>();
  const packed: string[] = [];
  if (options.self && selfBinaries.size > 0) {
    const version = options.self.version;
    const items: Record<string, Record<string, VersionItem>> = {};
    // Packing is gzip of ~100 MB per platform: two at a time keeps both cores busy.
    await forEachLimited([...selfBinaries].sort(), 2, async ([platform, binary]) => {
      const [os = "", arch = ""] = platform.split("/");
      const packaged = await packageSelf(target, binary, {
        version,
        os,
        arch,
        now,
        previous: previous.get("ferry")?.platforms[platform]?.[version],
        journal,
        ...(options.self?.packCaches?.[platform]
          ? { packCache: options.self.packCaches[platform] }
          : {}),
      });
      if (packaged.packed) packed.push(platform);
      items[platform] = { [version]: packaged.item };
    });
    extra.set("ferry", items);
  }

  // The new manifests, compared with what the target has.
  const built = buildComponents(upstream, previous, carried, kept, extra, expires);
  const clientTasks = clientCopies(built.get("ferry")?.signed, platforms);
  const copies = await copyWithinTarget(target, clientTasks, {
    ...transferOptions,
    onProgress: () => {},
  });
  await journal.save();

  const indexChanged = (s: RepositoryState, components: Map<string, unknown>) =>
    buildIndex(s, srcIndex, [...components.keys()], owner, expires);
  const changed = [...built.values()].some((c) => c.changed) ||
    indexChanged(state, built) !== undefined;
  let timestampVersion = state.timestamp.manifest.signed.version;
  if (changed) {
    const result = await updateRepository(target, async (current) => {
      // Rebuilt on the state inside the lock, in case another writer ran meanwhile.
      const prev = current.timestamp.manifest.signed.version === timestampVersion
        ? previous
        : await loadAll(target, current, ours, options.jobs);
      const components = buildComponents(upstream, prev, carried, kept, extra, expires);
      const index = buildIndex(current, srcIndex, [...components.keys()], owner, expires);
      return {
        components: [...components.values()].filter((c) => c.changed).map((c) => ({
          manifest: c.signed,
          keys: [owner.key],
        })),
        ...(index ? { index } : {}),
      };
    }, {
      now,
      commitLog: false,
      expiry: { snapshotDays: CLONE_EXPIRY_DAYS, timestampDays: CLONE_EXPIRY_DAYS },
    });
    timestampVersion = result.timestampVersion;
    notes.push(...result.warnings);
    state = await loadRepositoryState(target, { now });
  }

  // The installers, with the hashes of what they will install.
  const scriptFiles: Record<string, string> = {};
  for (const task of [...tiupTasks, ...clientTasks]) {
    const sha256 = await journalHash(target, task.path, journal);
    if (sha256) scriptFiles[task.path] = sha256;
  }
  const rootSha256 = sha256Hex(await readBytes(target, "root.json"));
  const local = renderLocalInstallScript({ tarballs: scriptFiles, rootSha256 });
  const online = renderInstallScript({
    tarballs: scriptFiles,
    rootSha256,
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
  });
  await writeIfDifferent(target, LOCAL_INSTALL_SCRIPT, local);
  await writeIfDifferent(target, INSTALL_SCRIPT, online);
  await journal.save();

  const components = [...built.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map((
    [id, c],
  ) => ({
    id,
    versions: Object.values(c.signed.platforms)
      .reduce((n, v) => n + Object.values(v).filter((i) => !i.yanked).length, 0),
    changed: c.changed,
  }));
  const ignoredMissing = new Set(tiupPaths);
  return {
    created: opened.created,
    components,
    downloaded: [...fetched.downloaded, ...copies.downloaded].sort(),
    skipped: fetched.skipped,
    missing: fetched.missing.filter((p) => !ignoredMissing.has(p)),
    conflicts: fetched.conflicts,
    failed: [...fetched.failed, ...copies.failed],
    bytes: fetched.bytes,
    changed,
    timestampVersion,
    notes,
    packed: packed.sort(),
    ferryMissing,
  };

  function buildComponents(
    up: Map<string, ComponentManifest>,
    prev: Map<string, ComponentManifest>,
    carriedBy: Map<string, Map<string, Set<string>>>,
    keptBy: Map<string, Map<string, Set<string>>>,
    extras: Map<string, Record<string, Record<string, VersionItem>>>,
    expiry: string,
  ) {
    const out = new Map<string, ReturnType<typeof buildCloneComponent>>();
    const ids = new Set([...carriedBy.keys(), ...keptBy.keys(), ...extras.keys(), ...prev.keys()]);
    for (const id of [...ids].sort()) {
      const result = buildCloneComponent(id, {
        upstream: up.get(id),
        previous: prev.get(id),
        carried: carriedBy.get(id) ?? new Map(),
        kept: keptBy.get(id) ?? new Map(),
        ...(extras.has(id) ? { extra: extras.get(id)! } : {}),
        expires: expiry,
      });
      const usable = Object.values(result.signed.platforms)
        .some((versions) => Object.values(versions).some((i) => !i.yanked));
      // TiUP omits a component with nothing selected; one the target had stays.
      if (usable || prev.has(id)) out.set(id, result);
    }
    return out;
  }
}

async function openTarget(
  target: Storage,
  now: Date,
  generateKey: () => Promise<SigningKey>,
): Promise<{ state: RepositoryState; created: boolean }> {
  // Under the lock, so that a creation killed part-way (see below) is undone first.
  const lock = await acquireMirrorLock(target, { now });
  try {
    await recoverInterruptedCommit(target, { now });
    try {
      await target.stat("root.json");
      return { state: await loadRepositoryState(target, { now }), created: false };
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    // Built in memory, then copied keys first and timestamp last under a "create" journal: a
    // crash part-way is undone by the next run, which starts over (init needs an empty storage;
    // the target may hold the journal and files of an interrupted run).
    const scratch = new MemoryStorage();
    const days = CLONE_EXPIRY_DAYS;
    const init = await initRepository(scratch, {
      now,
      versionedRoot: true,
      generateKey,
      expiryDays: { root: days, index: days, snapshot: days, timestamp: days },
    });
    const creates = [...init.keyFiles, ...init.files];
    await createWithJournal(target, { id: "clone", now, creates }, async () => {
      for (const path of init.keyFiles) {
        await target.write(path, bodyStream(await scratch.read(path)), { mode: 0o600 });
      }
      for (const path of init.files) {
        await target.write(path, bodyStream(await scratch.read(path)));
      }
    });
    return { state: await loadRepositoryState(target, { now }), created: true };
  } finally {
    await lock.release();
  }
}

/** The clone's owner and its key: found in `keys/`, or created (to be granted by the index). */
async function ownerKey(
  target: Storage,
  state: RepositoryState,
  keys: Map<string, SigningKey>,
  generateKey: () => Promise<SigningKey>,
): Promise<{ key: SigningKey; isNew: boolean }> {
  const owner = state.index.manifest.signed.owners[CLONE_OWNER_ID];
  if (owner) {
    const key = Object.keys(owner.keys).map((id) => keys.get(id)).find((k) => k !== undefined);
    if (!key) {
      throw new UsageError(
        `Cannot refresh "${target.location}": the private key of its owner "${CLONE_OWNER_ID}" ` +
          `(${Object.keys(owner.keys).map((id) => id.slice(0, 16)).join(", ")}) is not in ` +
          `"${target.location}/keys"; restore it from a backup of that folder`,
      );
    }
    return { key, isNew: false };
  }
  const key = await generateKey();
  await target.write(
    `${MIRROR_KEYS_PREFIX}${key.id.slice(0, 16)}-${CLONE_OWNER_ID}.json`,
    privateKeyFileText(key),
    { mode: 0o600 },
  );
  return { key, isNew: true };
}

/** The index the clone needs, or undefined when the current one already says it. */
function buildIndex(
  state: RepositoryState,
  srcIndex: IndexManifest,
  ids: string[],
  owner: { key: SigningKey },
  expires: string,
): IndexManifest | undefined {
  const current = state.index.manifest.signed;
  const next = normalizeManifest(current);
  if (!next.owners[CLONE_OWNER_ID]) {
    next.owners[CLONE_OWNER_ID] = {
      keys: { [owner.key.id]: owner.key.publicInfo },
      name: CLONE_OWNER_NAME,
      threshold: 1,
    };
  }
  for (const id of ids) {
    const from = srcIndex.components[id] ?? current.components[id];
    const item: ComponentItem = {
      hidden: from?.hidden ?? false,
      owner: CLONE_OWNER_ID,
      standalone: from?.standalone ?? false,
      url: componentUrl(id),
      yanked: false,
    };
    next.components[id] = item;
  }
  if (canonicalJson(next) === canonicalJson(current)) return undefined;
  return { ...next, expires, version: current.version + 1 };
}

/**
 * os × arch plus "any/any" (TiUP adds it so platform-independent components come along). A full
 * clone without --os/--arch takes every platform the source has, not just TiUP's defaults.
 */
function choosePlatforms(
  options: CloneOptions,
  upstream: Map<string, ComponentManifest>,
): string[] {
  const givenOs = options.os !== undefined && options.os.length > 0;
  const givenArch = options.arch !== undefined && options.arch.length > 0;
  if (options.full && !givenOs && !givenArch) {
    const all = new Set(["any/any"]);
    for (const manifest of upstream.values()) {
      for (const platform of Object.keys(manifest.platforms)) all.add(platform);
    }
    for (const os of DEFAULT_CLONE_OS) {
      for (const arch of DEFAULT_CLONE_ARCH) all.add(`${os}/${arch}`);
    }
    return [...all].sort();
  }
  const os = givenOs ? options.os! : DEFAULT_CLONE_OS;
  const arch = givenArch ? options.arch! : DEFAULT_CLONE_ARCH;
  for (const name of [...os, ...arch]) {
    if (!/^[a-z0-9_]+$/.test(name)) {
      throw new UsageError(`Cannot use platform name "${name}": use names like linux or amd64`);
    }
  }
  const platforms = os.flatMap((o) => arch.map((a) => `${o}/${a}`));
  return [...new Set([...platforms, "any/any"])];
}

async function loadUpstream(
  updater: MirrorUpdater,
  ids: string[],
  jobs = 8,
): Promise<Map<string, ComponentManifest>> {
  const out = new Map<string, ComponentManifest>();
  await forEachLimited(ids, jobs, async (id) => {
    out.set(id, (await updater.component(id)).signed);
  });
  return out;
}

async function loadAll(
  storage: StorageReader,
  state: RepositoryState,
  ids: string[],
  jobs = 8,
): Promise<Map<string, ComponentManifest>> {
  const out = new Map<string, ComponentManifest>();
  await forEachLimited(ids, jobs, async (id) => {
    const loaded = await loadComponentManifest(storage, state, id);
    if (loaded) out.set(id, loaded.manifest.signed);
  });
  return out;
}

function expectedOf(item: VersionItem): { length: number; sha256: string; sha512?: string } {
  return { length: item.length, sha256: String(item.hashes.sha256 ?? ""), ...sha512Of(item) };
}

function sameFile(a: VersionItem, b: VersionItem): boolean {
  return a.length === b.length && a.hashes.sha256 === b.hashes.sha256;
}

function groupPicks(picks: Pick[]): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const pick of picks) {
    const byPlatform = out.get(pick.id) ?? new Map<string, Set<string>>();
    byPlatform.set(pick.platform, (byPlatform.get(pick.platform) ?? new Set()).add(pick.version));
    out.set(pick.id, byPlatform);
  }
  return out;
}

/** `ferry-<os>-<arch>.tar.gz`: a copy of the latest ferry the clone carries for that platform. */
function clientCopies(ferry: ComponentManifest | undefined, platforms: string[]): FileTask[] {
  if (!ferry) return [];
  const tasks: FileTask[] = [];
  for (const platform of platforms) {
    if (platform === "any/any") continue;
    const versions = ferry.platforms[platform] ?? {};
    const latest = latestStable(versions) ??
      Object.keys(versions).find((v) => !versions[v]!.yanked);
    if (latest === undefined) continue;
    const item = versions[latest]!;
    tasks.push({
      path: `ferry-${platform.replace("/", "-")}.tar.gz`,
      sourcePath: item.url.slice(1),
      expected: [expectedOf(item)],
      replace: true,
    });
  }
  return tasks;
}

async function journalHash(
  target: Storage,
  path: string,
  journal: VerifiedJournal,
): Promise<string | undefined> {
  try {
    const stat = await target.stat(path);
    return journal.lookup(stat);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

async function writeIfDifferent(target: Storage, path: string, text: string): Promise<void> {
  try {
    const current = new TextDecoder().decode(await readBytes(target, path, { maxBytes: 1 << 20 }));
    if (current === text) return;
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  await target.write(path, text, { mode: 0o755 });
}
