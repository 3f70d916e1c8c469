import semver from "semver";
import { forEachLimited } from "../../for_each_limited.ts";
import { loadComponentManifest } from "../../trust/load_component_manifest.ts";
import { latestStable } from "../../format/latest_stable.ts";
import type { ComponentManifest, VersionItem } from "../../format/manifest_types.ts";
import { loadRepositoryState } from "../../trust/load_verified_state.ts";
import type { StorageReader } from "../../storage/storage.ts";

/** One of the four top-level roles as the mirror's verified metadata states it. */
export interface RoleSummary {
  role: "root" | "index" | "snapshot" | "timestamp";
  version: number;
  /** RFC 3339, as signed. */
  expires: string;
}

/** A component as its verified index entry and manifest describe it. */
export interface ComponentSummary {
  name: string;
  description: string;
  owner: { id: string; name: string };
  /** The version a client installs by default on some platform; undefined when none. */
  latest: string | undefined;
  /** "os/arch" names, sorted. */
  platforms: string[];
  hidden: boolean;
  yanked: boolean;
  standalone: boolean;
  /** The verified manifest's content (versions × platforms). */
  manifest: ComponentManifest;
}

/** What the mirror's pages show: only what verified from the mirror's own root. */
export interface MirrorOverview {
  /** Root key IDs (full hex) and how many must sign a new root. */
  rootKeys: { ids: string[]; threshold: number };
  roles: RoleSummary[];
  /** Sorted by name. */
  components: ComponentSummary[];
}

/**
 * Reads the mirror through the writer's verified loaders ({@linkcode loadRepositoryState}:
 * root chain, timestamp, snapshot, index; {@linkcode loadComponentManifest} for every component
 * the index lists) and summarizes it for people. Throws what those throw (VerificationError,
 * UsageError for a directory that is no mirror, StorageError) rather than show anything that
 * did not verify. Expiry is not fatal: it is shown, with a warning.
 */
export async function loadMirrorOverview(storage: StorageReader): Promise<MirrorOverview> {
  const state = await loadRepositoryState(storage);
  const root = state.root.manifest.signed;
  const index = state.index.manifest.signed;
  const names = Object.keys(index.components).sort();
  const found: Array<ComponentSummary | undefined> = new Array(names.length);
  // A few at a time: the reads overlap, and the signature checks stay within one event-loop turn each.
  await forEachLimited(names, 4, async (name, i) => {
    const item = index.components[name]!;
    const loaded = await loadComponentManifest(storage, state, name);
    // The loader returns undefined only for a component the index does not list.
    if (!loaded) return;
    const manifest = loaded.manifest.signed;
    found[i] = {
      name,
      description: manifest.description,
      owner: { id: item.owner, name: index.owners[item.owner]?.name ?? item.owner },
      latest: latestOf(manifest),
      platforms: Object.keys(manifest.platforms ?? {}).sort(),
      hidden: item.hidden,
      yanked: item.yanked,
      standalone: item.standalone,
      manifest,
    };
  });
  const components = found.filter((c): c is ComponentSummary => c !== undefined);
  return {
    rootKeys: {
      ids: Object.keys(root.roles.root.keys).sort(),
      threshold: root.roles.root.threshold,
    },
    roles: [
      { role: "root", version: root.version, expires: root.expires },
      { role: "index", version: index.version, expires: index.expires },
      {
        role: "snapshot",
        version: state.snapshot.manifest.signed.version,
        expires: state.snapshot.manifest.signed.expires,
      },
      {
        role: "timestamp",
        version: state.timestamp.manifest.signed.version,
        expires: state.timestamp.manifest.signed.expires,
      },
    ],
    components,
  };
}

/** The highest of the per-platform default versions (what `ferry install NAME` picks somewhere). */
function latestOf(manifest: ComponentManifest): string | undefined {
  let best: string | undefined;
  for (const versions of Object.values(manifest.platforms ?? {})) {
    const latest = latestStable(versions as Record<string, VersionItem>);
    if (latest === undefined) continue;
    if (best === undefined || semver.gt(latest, best)) best = latest;
  }
  return best;
}
