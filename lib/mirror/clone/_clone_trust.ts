/**
 * Every call the clone makes into lib/trust, in one place (folder-private): the source verified
 * as a client verifies it, and the target's component manifests read through its verified state.
 * The target's state itself is verified once, by the writer's transaction (updateRepository),
 * which hands it to the clone's plan.
 *
 * @module
 */
import { forEachLimited } from "../../for_each_limited.ts";
import type { ComponentManifest, IndexManifest } from "../../format/manifest_types.ts";
import { MAX_ROOT_BYTES } from "../../format/repo_defaults.ts";
import { readBytes } from "../../storage/read_bytes.ts";
import type { Storage, StorageReader } from "../../storage/storage.ts";
import { loadComponentManifest } from "../../trust/load_component_manifest.ts";
import type { RepositoryState } from "../../trust/load_verified_state.ts";
import { MirrorUpdater } from "../../trust/mirror_updater.ts";

/** The target's verified state, as the writer's transaction loaded it. */
export type TargetState = RepositoryState;

/** The source after verification: its index, and its components on demand. */
export interface TrustedSource {
  index: IndexManifest;
  /** The verified manifests of `ids` (each against its owner, expiry and rollback). */
  components(ids: string[], jobs?: number): Promise<Map<string, ComponentManifest>>;
  /** What the user should know about the trust taken (a root trusted on first use). */
  notes: string[];
}

/** How the source is to be trusted (see CloneOptions). */
export interface SourceTrust {
  trustedRoot?: Uint8Array;
  sourceCache?: Storage;
}

/**
 * Verifies the source as a client verifies it (the verifier's MirrorUpdater, TUF order: root
 * chain, timestamp, snapshot, index) from `trust.trustedRoot`, the cache's root, or the
 * source's own root.json trusted on first use (said in `notes`).
 */
export async function openTrustedSource(
  source: StorageReader,
  trust: SourceTrust,
  now: Date,
): Promise<TrustedSource> {
  const notes: string[] = [];
  let trustedRoot = trust.trustedRoot;
  if (!trustedRoot && !trust.sourceCache) {
    trustedRoot = await readBytes(source, "root.json", { maxBytes: MAX_ROOT_BYTES });
    notes.push(
      `Trusting "${source.location}/root.json" on first use (pin it with --source-root FILE)`,
    );
  }
  const updater = new MirrorUpdater(source, {
    ...(trustedRoot ? { trustedRoot } : {}),
    ...(trust.sourceCache ? { cache: trust.sourceCache } : {}),
    now: () => now,
  });
  const index = (await updater.refresh()).index.signed;
  const components = async (ids: string[], jobs = 8) => {
    const out = new Map<string, ComponentManifest>();
    await forEachLimited(ids, jobs, async (id) => {
      out.set(id, (await updater.component(id)).signed);
    });
    return out;
  };
  return { index, components, notes };
}

/** The target's manifests of `ids`, each verified against the target's state. */
export async function loadTargetComponents(
  target: StorageReader,
  state: TargetState,
  ids: string[],
  jobs = 8,
): Promise<Map<string, ComponentManifest>> {
  const out = new Map<string, ComponentManifest>();
  await forEachLimited(ids, jobs, async (id) => {
    const loaded = await loadComponentManifest(target, state, id);
    if (loaded) out.set(id, loaded.manifest.signed);
  });
  return out;
}
