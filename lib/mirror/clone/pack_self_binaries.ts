import { forEachLimited } from "../../for_each_limited.ts";
import type { ComponentManifest, VersionItem } from "../../format/manifest_types.ts";
import type { Storage } from "../../storage/storage.ts";
import type { SelfBinaryOptions } from "./clone_options.ts";
import { packageSelf } from "./package_self.ts";
import type { VerifiedJournal } from "./verified_journal.ts";

/** Options for {@linkcode packSelfBinaries}. */
export interface PackSelfBinariesOptions {
  /** The version to publish them as, and where packed tarballs are cached. */
  self: SelfBinaryOptions;
  now: Date;
  journal: VerifiedJournal;
  /** The target's current ferry manifest: an unchanged build keeps its item. */
  previous: ComponentManifest | undefined;
}

/** The ferry builds the clone adds, and which platforms were packed this run. */
export interface PackedSelf {
  /** "os/arch" → version → item, for the `ferry` component (empty when nothing to pack). */
  items: Record<string, Record<string, VersionItem>>;
  /** Platforms whose binary was gzipped this run (not found already packed), sorted. */
  packed: string[];
}

/**
 * Packs each binary of `binaries` ("os/arch" → executable) into the target as ferry's
 * `options.self.version` (packageSelf). Packing is gzip of ~100 MB per platform: two at a time keeps
 * both cores busy.
 */
export async function packSelfBinaries(
  target: Storage,
  binaries: ReadonlyMap<string, string>,
  options: PackSelfBinariesOptions,
): Promise<PackedSelf> {
  const { self } = options;
  const { version } = self;
  const items: Record<string, Record<string, VersionItem>> = {};
  const packed: string[] = [];
  await forEachLimited([...binaries].sort(), 2, async ([platform, binary]) => {
    const [os = "", arch = ""] = platform.split("/");
    const packaged = await packageSelf(target, binary, {
      version,
      os,
      arch,
      now: options.now,
      previous: options.previous?.platforms[platform]?.[version],
      journal: options.journal,
      ...(self.packCaches?.[platform] ? { packCache: self.packCaches[platform] } : {}),
    });
    if (packaged.packed) packed.push(platform);
    items[platform] = { [version]: packaged.item };
  });
  return { items, packed: packed.sort() };
}
