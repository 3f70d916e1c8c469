import type { IndexManifest } from "../../format/manifest_types.ts";
import { CLONE_OWNER_ID } from "./clone_options.ts";

/** What {@linkcode cloneComponentIds} reads of the clone's options. */
export interface ComponentRequest {
  full?: boolean;
  components?: Record<string, string[]>;
  versions?: string[];
}

/** The components a clone looks at, in the order it treats them. */
export interface CloneComponentIds {
  /** Source components to carry: not yanked, and asked for, installers' own, or already cloned. */
  wanted: string[];
  /** Target components the clone owns (its earlier runs made them). */
  ours: string[];
}

/**
 * Which source components a clone carries and which target components are its own: every
 * non-yanked source component with `full` or global versions; otherwise those named, `tiup` and
 * `ferry` (installs need a client), and those the target already lists.
 */
export function cloneComponentIds(
  source: IndexManifest,
  target: IndexManifest,
  request: ComponentRequest,
): CloneComponentIds {
  const wanted = Object.keys(source.components).filter((id) => {
    const item = source.components[id]!;
    return !item.yanked && (
      request.full || (request.versions?.length ?? 0) > 0 || id in (request.components ?? {}) ||
      id === "tiup" || id === "ferry" || Object.hasOwn(target.components, id)
    );
  });
  const ours = Object.entries(target.components)
    .filter(([, item]) => item.owner === CLONE_OWNER_ID).map(([id]) => id);
  return { wanted, ours };
}
