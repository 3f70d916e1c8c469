import { UsageError } from "../../errors.ts";
import type { ComponentManifest, VersionItem } from "../../format/manifest_types.ts";
import { latestStable } from "../../format/latest_stable.ts";

/** What the user asked to clone, for one component. */
export interface VersionRequest {
  /** --full: every version that is not yanked. */
  full?: boolean;
  /** --prefix: a named version selects every version that starts with it. */
  prefix?: boolean;
  /** The versions of this component's own flag (`--tidb v1,latest`), undefined when not given. */
  component?: string[] | undefined;
  /** The global versions (positional arguments after the target directory). */
  global?: string[];
}

/** The versions chosen for one component. */
export interface VersionSelection {
  /** "os/arch" → the versions to carry on that platform (only platforms with at least one). */
  platforms: Map<string, Set<string>>;
  /** Human notes about substitutions ("v9 is not on linux/arm64: using v1.2.0 instead"). */
  notes: string[];
}

/**
 * Chooses which versions of one component a clone carries, per platform (TIUP-FORMAT.md §6.1,
 * with TiUP's documented-but-broken `all` and `--prefix` working):
 *
 * - `full`: every non-yanked version;
 * - the component's own flag: each value is `all`, `latest` (the latest stable on that
 *   platform), `nightly` (the manifest's nightly pointer) or a version (a `v` is added when
 *   missing; with `prefix`, every version starting with it). A value that matches nothing on
 *   any of `platforms` is a UsageError naming the component;
 * - otherwise the global versions, with TiUP's fallback: a version missing on a platform is
 *   replaced by that platform's latest stable (recorded in `notes`);
 * - nothing asked: nothing selected.
 *
 * Only platforms in `platforms` are considered; yanked versions and versions without an entry
 * are never selected.
 */
export function selectVersions(
  manifest: ComponentManifest,
  platforms: readonly string[],
  request: VersionRequest,
): VersionSelection {
  const selected = new Map<string, Set<string>>();
  const notes: string[] = [];
  const specs = request.component ?? request.global ?? [];
  const unmatched = new Set(request.component ?? []);
  if (!request.full && specs.length === 0) return { platforms: selected, notes };

  for (const platform of platforms) {
    const versions = manifest.platforms[platform];
    if (!versions) continue;
    const usable = Object.keys(versions).filter((v) => isUsable(versions[v]));
    const chosen = new Set<string>();
    if (request.full) {
      usable.forEach((v) => chosen.add(v));
    } else {
      for (const spec of specs) {
        const matched = matchSpec(
          spec,
          usable,
          versions,
          manifest.nightly,
          request.prefix ?? false,
        );
        if (matched.length > 0) {
          unmatched.delete(spec);
          matched.forEach((v) => chosen.add(v));
        } else if (request.component === undefined && spec !== "nightly") {
          // TiUP combineVersions: a global version missing here falls back to the latest stable.
          const latest = latestStable(versions);
          if (latest !== undefined) {
            chosen.add(latest);
            if (spec !== "latest") {
              notes.push(
                `${manifest.id} ${spec} is not on ${platform}: using ${latest} instead` +
                  prefixHint(spec, usable, request.prefix ?? false),
              );
            }
          }
        }
      }
    }
    if (chosen.size > 0) selected.set(platform, chosen);
  }
  if (unmatched.size > 0) {
    const [first = ""] = unmatched;
    const usable = platforms.flatMap((platform) => {
      const versions = manifest.platforms[platform] ?? {};
      return Object.keys(versions).filter((v) => isUsable(versions[v]));
    });
    const hint = prefixHint(first, usable, request.prefix ?? false);
    throw new UsageError(
      `Cannot find version "${first}" of "${manifest.id}" on ${platforms.join(", ")}` +
        (hint || ` (see "ferry list ${manifest.id}" on the source mirror)`),
    );
  }
  return { platforms: selected, notes };
}

/**
 * `--tikv v4` names no version; seed 000's walkthrough means "every v4.*", which is what
 * `--prefix` does. Say so when versions start with what was given ("" otherwise).
 */
function prefixHint(spec: string, usable: string[], prefix: boolean): string {
  if (prefix || ["all", "latest", "nightly"].includes(spec)) return "";
  const forms = spec.startsWith("v") ? [spec] : [spec, `v${spec}`];
  const starting = [...new Set(usable.filter((v) => forms.some((f) => v.startsWith(f))))].sort();
  if (starting.length === 0) return "";
  const shown = starting.slice(0, 3).join(", ") + (starting.length > 3 ? ", …" : "");
  return `; ${starting.length} version(s) start with "${spec}" (${shown}): add --prefix, ` +
    `which matches versions by prefix`;
}

function isUsable(item: VersionItem | undefined): boolean {
  return item !== undefined && !item.yanked && item.entry !== "";
}

function matchSpec(
  spec: string,
  usable: string[],
  versions: Record<string, VersionItem>,
  nightly: string,
  prefix: boolean,
): string[] {
  if (spec === "all") return usable;
  if (spec === "latest") {
    const latest = latestStable(versions);
    return latest === undefined ? [] : [latest];
  }
  if (spec === "nightly") return nightly !== "" && usable.includes(nightly) ? [nightly] : [];
  const forms = spec.startsWith("v") ? [spec] : [spec, `v${spec}`];
  if (prefix) return usable.filter((v) => forms.some((form) => v.startsWith(form)));
  return usable.filter((v) => forms.includes(v));
}
