import type { ListableStorage } from "../../lib/storage/storage.ts";

/** What the proxy cache holds. */
export interface CacheSize {
  bytes: number;
  blobs: number;
  manifests: number;
  tags: number;
}

/**
 * Adds up the cache's entries by kind (the same prefixes eviction counts: `blobs/`,
 * `manifests/`, `tags/`); temporary files of downloads in flight are not listed by storage.
 */
export async function measureCache(storage: ListableStorage): Promise<CacheSize> {
  const size: CacheSize = { bytes: 0, blobs: 0, manifests: 0, tags: 0 };
  for await (const stat of storage.list("")) {
    const kind = /^(blobs|manifests|tags)\//.exec(stat.path)?.[1] as
      | "blobs"
      | "manifests"
      | "tags"
      | undefined;
    if (!kind) continue;
    size[kind]++;
    size.bytes += stat.size;
  }
  return size;
}
