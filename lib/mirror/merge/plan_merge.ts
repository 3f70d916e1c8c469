import type { ComponentManifest, IndexManifest, VersionItem } from "../../format/manifest_types.ts";
import { NIGHTLY_MARK, PUBLISH_PLATFORMS } from "../../format/repo_defaults.ts";

/** One build the source has and the base lacks. */
export interface MergeAddition {
  component: string;
  version: string;
  platform: string;
  /** The source's verified item (url, entry, length, hashes). */
  item: VersionItem;
  /** For a component new to the base: the source's description and index flags. */
  description: string;
  hidden: boolean;
  standalone: boolean;
}

/** The same component, version and platform in both, with different content. */
export interface MergeConflict {
  component: string;
  version: string;
  platform: string;
  baseSha256: string;
  sourceSha256: string;
}

/** What merging one source into the base would do. */
export interface MergePlan {
  additions: MergeAddition[];
  conflicts: MergeConflict[];
  /** Builds both have with the same content. */
  alreadyPresent: number;
  notes: string[];
}

/**
 * Compares a verified source with the verified base (TIUP-FORMAT.md §6.2, pure): every
 * non-yanked, non-nightly version with an entry, of every non-yanked source component whose
 * base entry is not yanked, on a platform `mirror publish` accepts, that the base lacks is an
 * addition; one the base has with another sha256 is a conflict (reported, never overwritten,
 * unlike a blind re-publish); one with the same sha256 is already present. Additions are
 * ordered by component, then platform, then version as the source lists them.
 */
export function planMerge(
  base: { index: IndexManifest; components: ReadonlyMap<string, ComponentManifest> },
  source: { index: IndexManifest; components: ReadonlyMap<string, ComponentManifest> },
): MergePlan {
  const plan: MergePlan = { additions: [], conflicts: [], alreadyPresent: 0, notes: [] };
  for (const id of Object.keys(source.index.components).sort()) {
    const sourceItem = source.index.components[id]!;
    if (sourceItem.yanked) continue;
    const baseItem = Object.hasOwn(base.index.components, id)
      ? base.index.components[id]
      : undefined;
    if (baseItem?.yanked) {
      plan.notes.push(`Skipping "${id}": it is yanked in the mirror merged into`);
      continue;
    }
    const manifest = source.components.get(id);
    if (!manifest) continue;
    const current = base.components.get(id);
    for (const platform of Object.keys(manifest.platforms).sort()) {
      for (const [version, item] of Object.entries(manifest.platforms[platform]!)) {
        if (item.yanked || item.entry === "" || version.includes(NIGHTLY_MARK)) continue;
        if (!PUBLISH_PLATFORMS.includes(platform)) {
          plan.notes.push(`Skipping ${id} ${version} on ${platform}: not a platform mirrors carry`);
          continue;
        }
        const existing = current?.platforms[platform]?.[version];
        if (existing) {
          if (existing.hashes.sha256 === item.hashes.sha256) plan.alreadyPresent++;
          else {
            plan.conflicts.push({
              component: id,
              version,
              platform,
              baseSha256: String(existing.hashes.sha256),
              sourceSha256: String(item.hashes.sha256),
            });
          }
          continue;
        }
        plan.additions.push({
          component: id,
          version,
          platform,
          item,
          description: manifest.description,
          hidden: sourceItem.hidden,
          standalone: sourceItem.standalone,
        });
      }
    }
  }
  return plan;
}
