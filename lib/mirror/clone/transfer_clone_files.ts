import type { Storage, StorageReader } from "../../storage/storage.ts";
import { expectedOf, groupPicks, type PicksByComponent, tarballPath } from "./_clone_items.ts";
import { downloadFiles, type DownloadOptions, type DownloadReport } from "./download_files.ts";
import type { ClonePlan } from "./plan_clone.ts";

/** What {@linkcode transferCloneFiles} brought into place. */
export interface CloneTransfer {
  /** The source transfers (component tarballs and TiUP's installers). */
  fetched: DownloadReport;
  /** Source builds whose files are now in the target, verified against the source. */
  carried: PicksByComponent;
  /** Earlier builds whose files are still in the target, verified against its manifests. */
  kept: PicksByComponent;
  /** Installer tarballs the source lacks: not an error, and not in the report's `missing`. */
  ignoredMissing: Set<string>;
  notes: string[];
}

/**
 * Brings the planned files into the target, each verified while it streams (downloadFiles):
 * first from the source, then what stays in place is checked against the target's own
 * manifests (without progress: nothing moves). A build counts as carried or kept only when its
 * file verified. With `noTarballs`, nothing moves and every planned build counts as carried:
 * a pull-through server fetches each file on first request, verified against the manifests.
 */
export async function transferCloneFiles(
  source: StorageReader,
  target: Storage,
  plan: ClonePlan,
  options: DownloadOptions & { noTarballs?: boolean },
): Promise<CloneTransfer> {
  if (options.noTarballs) {
    return {
      fetched: { downloaded: [], skipped: [], missing: [], conflicts: [], failed: [], bytes: 0 },
      carried: groupPicks(plan.sourcePicks),
      kept: groupPicks(plan.keptPicks),
      ignoredMissing: new Set(),
      notes: [],
    };
  }
  const fetched = await downloadFiles(source, target, [
    ...plan.sourcePicks.map((pick) => ({
      path: tarballPath(pick.item),
      expected: [expectedOf(pick.item)],
    })),
    ...plan.tiupTasks,
  ], options);
  const inPlace = await downloadFiles(
    target,
    target,
    plan.keptPicks.map((pick) => ({
      path: tarballPath(pick.item),
      expected: [expectedOf(pick.item)],
    })),
    { ...options, onProgress: () => {} },
  );
  const present = new Set([...fetched.downloaded, ...fetched.skipped]);
  const stayed = new Set(inPlace.skipped);
  const ignoredMissing = new Set(plan.tiupTasks.map((t) => t.path));
  const notes = fetched.missing.filter((p) => ignoredMissing.has(p)).map((path) =>
    `The source has no "${path}": TiUP's installer is not carried for that platform`
  );
  return {
    fetched,
    carried: groupPicks(plan.sourcePicks.filter((p) => present.has(tarballPath(p.item)))),
    kept: groupPicks(plan.keptPicks.filter((p) => stayed.has(tarballPath(p.item)))),
    ignoredMissing,
    notes,
  };
}
