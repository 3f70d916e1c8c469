import type { MirrorUpdater } from "../trust/mirror_updater.ts";
import type { InstalledComponent } from "./list_installed.ts";
import { forEachLimited } from "../for_each_limited.ts";

/** One row of `ferry list`. */
export interface MirrorComponentRow {
  name: string;
  owner: string;
  description: string;
  hidden: boolean;
  /** Installed versions, oldest first ([] when none). */
  installed: string[];
}

/** Options for {@linkcode listMirrorComponents}. */
export interface ListMirrorComponentsOptions {
  /** Include hidden components (yanked ones are never listed). */
  all?: boolean;
  /** What is installed (from listInstalled), for the installed marks. */
  installed?: InstalledComponent[];
  /** How many component manifests to fetch at once. Default 8. */
  concurrency?: number;
}

/**
 * The components of a refreshed mirror (call `updater.refresh()` first), sorted by name, with
 * owner, description and installed versions — what `tiup list` shows. Yanked components are
 * never listed and hidden ones only with `all` (TIUP-FORMAT.md §5.4). Descriptions come from
 * each component's verified manifest (fetched once, then served from the profile's cache); a
 * manifest that fails verification fails the listing.
 *
 * @example
 * ```ts
 * await updater.refresh();
 * await listMirrorComponents(updater, { installed: await listInstalled(home) });
 * // [{ name: "hello", owner: "jdoe", description: "…", hidden: false, installed: [] }]
 * ```
 */
export async function listMirrorComponents(
  updater: MirrorUpdater,
  options: ListMirrorComponentsOptions = {},
): Promise<MirrorComponentRow[]> {
  const index = updater.trusted.index;
  if (!index) throw new TypeError("Call updater.refresh() before listing components");
  const installed = new Map((options.installed ?? []).map((c) => [c.name, c.versions]));
  const names = Object.keys(index.signed.components)
    .filter((name) => {
      const item = index.signed.components[name]!;
      return !item.yanked && (options.all || !item.hidden);
    })
    .sort();
  const rows: MirrorComponentRow[] = new Array(names.length);
  await forEachLimited(names, options.concurrency ?? 8, async (name, position) => {
    const item = index.signed.components[name]!;
    const manifest = await updater.component(name);
    rows[position] = {
      name,
      owner: index.signed.owners[item.owner]?.name || item.owner,
      description: manifest.signed.description,
      hidden: item.hidden,
      installed: installed.get(name) ?? [],
    };
  });
  return rows;
}
