import { canonicalJson } from "../../format/canonical_json.ts";
import type { ComponentManifest, VersionItem } from "../../format/manifest_types.ts";
import { SPEC_VERSION } from "../../format/manifest_types.ts";

/** What goes into one component manifest of a clone. */
export interface CloneComponentInput {
  /** The source's component manifest (verified), or undefined when the source dropped it. */
  upstream: ComponentManifest | undefined;
  /** The target's current manifest for this component (verified), if any. */
  previous: ComponentManifest | undefined;
  /** "os/arch" → versions whose files are in the target, verified against `upstream`. */
  carried: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * "os/arch" → versions of `previous` whose files are still in the target, verified against
   * `previous` (the source dropped them or now has other content for them).
   */
  kept?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Items added by the clone itself (ferry's own binary): "os/arch" → version → item. */
  extra?: Record<string, Record<string, VersionItem>>;
  /** Expiry to give the manifest when it changes (RFC 3339). */
  expires: string;
}

/** A component manifest for the target and whether it differs from the previous one. */
export interface CloneComponentResult {
  signed: ComponentManifest;
  /** False when `previous` already says exactly this: nothing to write. */
  changed: boolean;
}

/**
 * Builds a clone's manifest for one component (TIUP-FORMAT.md §6.1), refresh-safe:
 *
 * - every upstream version on a carried platform is listed; versions not carried are
 *   `yanked: true`, so a client sees them but never installs one whose tarball is absent;
 * - versions the target carried before whose files are still in place (`kept`) stay usable
 *   with their previous item, even when the source dropped or changed them: a refresh never
 *   takes away what clients may already use; other previous versions stay listed, yanked;
 * - `extra` items are added;
 * - `nightly` is the source's pointer when that version is carried, else the previous pointer
 *   when still usable (TiUP drops it, issue #2522);
 * - the result has exactly Go's field set (legacy fields of old sources are dropped, since the
 *   target re-signs and Go clients re-serialize what they cache, §5.6);
 * - `version`: unchanged when the content equals `previous` (then `changed` is false and
 *   `previous` is returned); otherwise the larger of the source's version and previous + 1,
 *   so a client that trusts the earlier clone accepts it and never serves a stale cached copy.
 *   A first clone keeps the source's version, as TiUP's does.
 */
export function buildCloneComponent(
  id: string,
  input: CloneComponentInput,
): CloneComponentResult {
  const { upstream, previous, carried } = input;
  const platforms: Record<string, Record<string, VersionItem>> = {};
  const names = new Set<string>([
    ...[...carried].filter(([, versions]) => versions.size > 0).map(([platform]) => platform),
    ...Object.keys(previous?.platforms ?? {}),
    ...Object.keys(input.extra ?? {}),
  ]);
  for (const platform of [...names].sort()) {
    const out: Record<string, VersionItem> = {};
    const chosen = carried.get(platform);
    for (const [version, item] of Object.entries(upstream?.platforms[platform] ?? {})) {
      out[version] = copyItem(item, item.yanked || !(chosen?.has(version) ?? false));
    }
    const kept = input.kept?.get(platform);
    for (const [version, item] of Object.entries(previous?.platforms[platform] ?? {})) {
      const inPlace = !item.yanked && (kept?.has(version) ?? false);
      if (!(version in out)) out[version] = copyItem(item, !inPlace);
      else if (out[version]!.yanked && inPlace) out[version] = copyItem(item, false);
    }
    for (const [version, item] of Object.entries(input.extra?.[platform] ?? {})) {
      out[version] = copyItem(item, false);
    }
    if (Object.keys(out).length > 0) platforms[platform] = out;
  }
  const usable = (version: string) =>
    version !== "" &&
    Object.values(platforms).some((versions) => versions[version]?.yanked === false);
  const nightly = upstream && usable(upstream.nightly)
    ? upstream.nightly
    : previous && usable(previous.nightly)
    ? previous.nightly
    : "";
  const candidate: ComponentManifest = {
    _type: "component",
    description: upstream?.description ?? previous?.description ?? "",
    expires: previous?.expires ?? input.expires,
    id,
    nightly,
    platforms,
    spec_version: SPEC_VERSION,
    version: previous?.version ?? Math.max(upstream?.version ?? 1, 1),
  };
  if (previous && canonicalJson(candidate) === canonicalJson(previous)) {
    return { signed: previous, changed: false };
  }
  return {
    signed: {
      ...candidate,
      expires: input.expires,
      version: previous
        ? Math.max(upstream?.version ?? 0, previous.version + 1)
        : candidate.version,
    },
    changed: true,
  };
}

/** A VersionItem with exactly Go's fields. */
function copyItem(item: VersionItem, yanked: boolean): VersionItem {
  return {
    dependencies: item.dependencies ?? null,
    entry: item.entry,
    hashes: { ...item.hashes },
    length: item.length,
    released: item.released,
    url: item.url,
    yanked,
  };
}
