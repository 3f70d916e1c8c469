import { canonicalJson } from "../../format/canonical_json.ts";
import type { SigningKey } from "../../format/key_info.ts";
import type { ComponentItem, IndexManifest } from "../../format/manifest_types.ts";
import { normalizeManifest } from "../../format/normalize_manifest.ts";
import { componentUrl } from "../../format/versioned_name.ts";
import { CLONE_OWNER_ID, CLONE_OWNER_NAME } from "./clone_options.ts";

/** What {@linkcode buildCloneIndex} adds to the target's index. */
export interface CloneIndexInput {
  /** The source's verified index: where a component's `hidden` and `standalone` come from. */
  source: IndexManifest;
  /** The components the clone lists, all owned by {@linkcode CLONE_OWNER_ID}. */
  ids: readonly string[];
  /** The clone owner's key, granted when the index has no such owner yet. */
  ownerKey: SigningKey;
  /** Expiry of a changed index (RFC 3339). */
  expires: string;
}

/**
 * The index the clone needs on top of the target's `current` one: the clone's owner, and each
 * of `ids` owned by it with the source's flags. Undefined when `current` already says exactly
 * that (nothing to write); otherwise one version above `current`.
 */
export function buildCloneIndex(
  current: IndexManifest,
  input: CloneIndexInput,
): IndexManifest | undefined {
  const next = normalizeManifest(current);
  if (!next.owners[CLONE_OWNER_ID]) {
    next.owners[CLONE_OWNER_ID] = {
      keys: { [input.ownerKey.id]: input.ownerKey.publicInfo },
      name: CLONE_OWNER_NAME,
      threshold: 1,
    };
  }
  for (const id of input.ids) {
    const from = input.source.components[id] ?? current.components[id];
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
  return { ...next, expires: input.expires, version: current.version + 1 };
}
