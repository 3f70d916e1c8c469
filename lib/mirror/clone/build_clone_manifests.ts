import type { SigningKey } from "../../format/key_info.ts";
import type { ComponentManifest, IndexManifest, VersionItem } from "../../format/manifest_types.ts";
import type { PicksByComponent } from "./_clone_items.ts";
import { buildCloneComponent, type CloneComponentResult } from "./build_clone_component.ts";
import { buildCloneIndex } from "./build_clone_index.ts";

/** What {@linkcode buildCloneManifests} builds from. */
export interface CloneManifestsInput {
  /** The source's verified index and component manifests. */
  sourceIndex: IndexManifest;
  upstream: ReadonlyMap<string, ComponentManifest>;
  /** The target's verified index and the manifests of the components the clone owns. */
  targetIndex: IndexManifest;
  previous: ReadonlyMap<string, ComponentManifest>;
  /** Builds whose files are in place: from the source, and kept from the target's manifests. */
  carried: PicksByComponent;
  kept: PicksByComponent;
  /** Items the clone adds itself (ferry's own builds): id → "os/arch" → version → item. */
  extra: ReadonlyMap<string, Record<string, Record<string, VersionItem>>>;
  ownerKey: SigningKey;
  /** Expiry of what changes (RFC 3339). */
  expires: string;
}

/** The clone's manifests, and whether any differs from the target's. */
export interface CloneManifests {
  /** Every component of the clone, sorted by id; `changed` says which to write. */
  components: Map<string, CloneComponentResult>;
  /** The new index, when it changes. */
  index?: IndexManifest;
  /** Whether anything is to be written. */
  changed: boolean;
}

/**
 * Builds, once, the component manifests (buildCloneComponent) and the index (buildCloneIndex)
 * the target should have. TiUP omits a component with nothing selected; one the target had
 * stays.
 */
export function buildCloneManifests(input: CloneManifestsInput): CloneManifests {
  const components = new Map<string, CloneComponentResult>();
  const ids = new Set([
    ...input.carried.keys(),
    ...input.kept.keys(),
    ...input.extra.keys(),
    ...input.previous.keys(),
  ]);
  for (const id of [...ids].sort()) {
    const extra = input.extra.get(id);
    const result = buildCloneComponent(id, {
      upstream: input.upstream.get(id),
      previous: input.previous.get(id),
      carried: input.carried.get(id) ?? new Map(),
      kept: input.kept.get(id) ?? new Map(),
      ...(extra ? { extra } : {}),
      expires: input.expires,
    });
    const usable = Object.values(result.signed.platforms)
      .some((versions) => Object.values(versions).some((i) => !i.yanked));
    if (usable || input.previous.has(id)) components.set(id, result);
  }
  const index = buildCloneIndex(input.targetIndex, {
    source: input.sourceIndex,
    ids: [...components.keys()],
    ownerKey: input.ownerKey,
    expires: input.expires,
  });
  const changed = [...components.values()].some((c) => c.changed) || index !== undefined;
  return { components, ...(index ? { index } : {}), changed };
}
