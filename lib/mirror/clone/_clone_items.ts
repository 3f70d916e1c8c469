/**
 * Small shapes the clone's phases share (folder-private).
 *
 * @module
 */
import type { VersionItem } from "../../format/manifest_types.ts";
import type { ExpectedFile } from "./verifying_stream.ts";
import { sha512Of } from "./download_files.ts";

/** One build the clone carries: a component version on a platform, with its signed item. */
export interface CarriedBuild {
  id: string;
  platform: string;
  version: string;
  item: VersionItem;
}

/** Builds by component: id → "os/arch" → versions. */
export type PicksByComponent = Map<string, Map<string, Set<string>>>;

/** The signed length, SHA-256 and (when the manifest gives one) SHA-512 a file must have. */
export function expectedOf(item: VersionItem): ExpectedFile {
  return { length: item.length, sha256: String(item.hashes.sha256 ?? ""), ...sha512Of(item) };
}

/** Whether two items describe the same bytes. */
export function sameFile(a: VersionItem, b: VersionItem): boolean {
  return a.length === b.length && a.hashes.sha256 === b.hashes.sha256;
}

/** The storage path of an item's tarball (its url without the leading "/"). */
export function tarballPath(item: VersionItem): string {
  return item.url.slice(1);
}

/** Groups picks by component and platform. */
export function groupPicks(picks: readonly CarriedBuild[]): PicksByComponent {
  const out: PicksByComponent = new Map();
  for (const pick of picks) {
    const byPlatform = out.get(pick.id) ?? new Map<string, Set<string>>();
    byPlatform.set(pick.platform, (byPlatform.get(pick.platform) ?? new Set()).add(pick.version));
    out.set(pick.id, byPlatform);
  }
  return out;
}
