import type { ComponentManifest } from "../../format/manifest_types.ts";
import { latestStable } from "../../format/latest_stable.ts";
import { type CarriedBuild, expectedOf, sameFile } from "./_clone_items.ts";
import type { CloneOptions } from "./clone_options.ts";
import type { FileTask } from "./download_files.ts";
import { isSafeTarballUrl } from "./is_safe_tarball_url.ts";
import { selectVersions } from "./select_versions.ts";

/** What {@linkcode planClone} decides from. */
export interface ClonePlanInput {
  /** The source's verified manifests of the wanted components. */
  upstream: ReadonlyMap<string, ComponentManifest>;
  /** The target's verified manifests of the components the clone owns. */
  previous: ReadonlyMap<string, ComponentManifest>;
  /** Component ids in the order they are treated (wanted, then the clone's own). */
  ids: readonly string[];
  platforms: readonly string[];
  options: Pick<CloneOptions, "full" | "prefix" | "components" | "versions" | "self">;
}

/** What a clone transfers, before any byte moves. */
export interface ClonePlan {
  /** Builds to bring from the source (verified against the source's manifests). */
  sourcePicks: CarriedBuild[];
  /** Builds the target carried before, to check in place against its own manifests. */
  keptPicks: CarriedBuild[];
  /** TiUP's installer tarballs, carried when they are a signed tiup version. */
  tiupTasks: FileTask[];
  /** The ferry binaries to pack, by platform (those the source does not already have). */
  selfBinaries: Map<string, string>;
  /** Selected platforms the clone will carry no ferry for (only with `options.self`). */
  ferryMissing: string[];
  notes: string[];
}

/**
 * Plans a clone (pure): per component, the versions selected on each platform (selectVersions),
 * the source's latest ferry wherever it has one (installs need a client), and what the target
 * carried before, which stays: re-checked against the source when it still has the same file,
 * else checked in place against the target's own manifest. Builds whose url is not a plain file
 * name are skipped with a note.
 */
export function planClone(input: ClonePlanInput): ClonePlan {
  const { options, platforms } = input;
  const plan: ClonePlan = {
    sourcePicks: [],
    keptPicks: [],
    tiupTasks: tiupInstallerTasks(input.upstream.get("tiup"), platforms),
    selfBinaries: new Map(
      Object.entries(options.self?.binaries ?? {}).filter(([p]) => platforms.includes(p)),
    ),
    ferryMissing: [],
    notes: [],
  };
  const fromSource = new Set<string>();
  for (const id of input.ids) {
    const up = input.upstream.get(id);
    const chosen = up
      ? selectVersions(up, platforms, {
        ...(options.full !== undefined ? { full: options.full } : {}),
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
        component: options.components?.[id],
        global: options.versions ?? [],
      })
      : { platforms: new Map<string, Set<string>>(), notes: [] };
    plan.notes.push(...chosen.notes);
    if (up && id === "ferry") {
      for (const platform of addSourceFerry(up, chosen.platforms, platforms)) {
        fromSource.add(platform);
        const latest = latestStable(up.platforms[platform] ?? {});
        if (latest === options.self?.version && plan.selfBinaries.delete(platform)) {
          plan.notes.push(`The source already has ferry ${latest} for ${platform}: using that one`);
        }
      }
    }
    plan.keptPicks.push(...keepPrevious(id, up, input.previous.get(id), chosen.platforms));
    plan.sourcePicks.push(...sourcePicks(id, up, chosen.platforms, plan.notes));
  }
  if (options.self) {
    plan.ferryMissing = platforms.filter((p) =>
      p !== "any/any" && !plan.selfBinaries.has(p) && !fromSource.has(p)
    );
  }
  for (const platform of plan.ferryMissing) {
    const where = options.self?.searched
      ? ` (looked for "${options.self.searched}/${platform.replace("/", "-")}/ferry")`
      : "";
    plan.notes.push(
      `No ferry binary for ${platform}${where}: local_install.sh cannot install ferry there; ` +
        `build one with scripts/build_binary.sh --all`,
    );
  }
  return plan;
}

type Chosen = Map<string, Set<string>>;

/** Adds the source's latest ferry on each platform it has one; returns those platforms. */
function addSourceFerry(up: ComponentManifest, chosen: Chosen, platforms: readonly string[]) {
  const found: string[] = [];
  for (const platform of platforms) {
    const latest = latestStable(up.platforms[platform] ?? {});
    if (latest === undefined) continue;
    found.push(platform);
    chosen.set(platform, (chosen.get(platform) ?? new Set()).add(latest));
  }
  return found;
}

/**
 * What the target carried before stays: a build the source still has as the same file joins
 * `chosen` (re-checked against the source); any other is returned, to be checked in place.
 */
function keepPrevious(
  id: string,
  up: ComponentManifest | undefined,
  prev: ComponentManifest | undefined,
  chosen: Chosen,
): CarriedBuild[] {
  const kept: CarriedBuild[] = [];
  for (const [platform, versions] of Object.entries(prev?.platforms ?? {})) {
    for (const [version, item] of Object.entries(versions)) {
      if (item.yanked || item.entry === "") continue;
      const same = up?.platforms[platform]?.[version];
      if (same && !same.yanked && same.url === item.url && sameFile(same, item)) {
        chosen.set(platform, (chosen.get(platform) ?? new Set()).add(version));
      } else if (isSafeTarballUrl(item.url)) {
        kept.push({ id, platform, version, item });
      }
    }
  }
  return kept;
}

/** The chosen builds of the source, minus those whose url is not a plain file name (noted). */
function sourcePicks(
  id: string,
  up: ComponentManifest | undefined,
  chosen: Chosen,
  notes: string[],
): CarriedBuild[] {
  const picks: CarriedBuild[] = [];
  for (const [platform, versions] of chosen) {
    for (const version of versions) {
      const item = up?.platforms[platform]?.[version];
      if (!item) continue;
      if (!isSafeTarballUrl(item.url)) {
        notes.push(
          `Skipping ${id} ${version} on ${platform}: its url "${item.url}" is not a plain file name`,
        );
        continue;
      }
      picks.push({ id, platform, version, item });
    }
  }
  return picks;
}

/**
 * `tiup-<os>-<arch>.tar.gz` for each platform with a signed tiup version: any signed version's
 * file is accepted in place, the latest one is fetched.
 */
function tiupInstallerTasks(
  tiup: ComponentManifest | undefined,
  platforms: readonly string[],
): FileTask[] {
  const tasks: FileTask[] = [];
  for (const platform of tiup ? platforms : []) {
    if (platform === "any/any") continue;
    const versions = tiup!.platforms[platform] ?? {};
    const signed = Object.values(versions).filter((i) => !i.yanked && i.entry !== "");
    const latest = latestStable(versions);
    if (signed.length === 0 || latest === undefined) continue;
    tasks.push({
      path: `tiup-${platform.replace("/", "-")}.tar.gz`,
      expected: signed.map(expectedOf),
      current: [expectedOf(versions[latest]!)],
      replace: true,
    });
  }
  return tasks;
}
