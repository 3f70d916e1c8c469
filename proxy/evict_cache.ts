import { NotFoundError } from "../lib/errors.ts";
import { collectBytes } from "../lib/storage/read_bytes.ts";
import type { Storage } from "../lib/storage/storage.ts";
import { cacheKeys } from "./cache_keys.ts";
import { MAX_MANIFEST_BYTES } from "./manifest_cache.ts";

/** Options for {@linkcode evictCache}. */
export interface EvictCacheOptions {
  /** Delete until the cache holds at most this many bytes. */
  targetBytes: number;
  /** Last use of a key (epoch ms) when known; the object's modification time otherwise. */
  lastUsed?: (key: string) => number | undefined;
  /**
   * Bytes held outside the listed objects: downloads in flight, written to temporary files that
   * become cache entries (or are deleted). They count against the limit but cannot be evicted.
   */
  inflightBytes?: number;
  /** Keys that must stay (being downloaded or served right now). */
  isPinned?: (key: string) => boolean;
}

/** What one eviction pass did. */
export interface EvictionResult {
  totalBytes: number;
  deletedBytes: number;
  deletedKeys: string[];
}

interface Entry {
  size: number;
  lastUsed: number;
  refs: string[];
  refcount: number;
}

/**
 * Brings the proxy cache under `targetBytes`, least recently used first, without ever deleting
 * content that something still in the cache needs: a tag answer holds its manifest, an index
 * holds its child manifests, a manifest holds its config and layers. Only entries nothing refers
 * to are candidates; deleting one may free what it referred to, which then competes by its own
 * last use. (Distribution's TTL scheduler deletes blobs shared with other repositories — #2367,
 * #4191 — which this reference count rules out.) Replicas sharing one bucket may run passes at
 * once: an entry another pass deleted first counts as freed here too.
 */
export async function evictCache(
  storage: Storage,
  options: EvictCacheOptions,
): Promise<EvictionResult> {
  const entries = new Map<string, Entry>();
  let total = options.inflightBytes ?? 0;
  for await (const stat of storage.list("")) {
    if (!/^(?:blobs|manifests|tags)\//.test(stat.path)) continue;
    total += stat.size;
    entries.set(stat.path, {
      size: stat.size,
      lastUsed: options.lastUsed?.(stat.path) ?? stat.modified.getTime(),
      refs: [],
      refcount: 0,
    });
  }
  if (total <= options.targetBytes) return { totalBytes: total, deletedBytes: 0, deletedKeys: [] };

  for (const [key, entry] of entries) {
    if (key.startsWith("tags/")) {
      const digest = await readJsonField(storage, key);
      if (digest) entry.refs = existing(entries, [cacheKeys.manifest(digest)]);
    } else if (key.startsWith("manifests/")) {
      const digests = await manifestReferences(storage, key);
      entry.refs = existing(
        entries,
        digests.flatMap((d) => [cacheKeys.manifest(d), cacheKeys.blob(d)]),
      );
    }
  }
  for (const entry of entries.values()) {
    for (const ref of entry.refs) {
      const target = entries.get(ref);
      if (target) target.refcount++;
    }
  }
  const queue = [...entries].filter(([, e]) => e.refcount === 0);
  queue.sort(([, a], [, b]) => b.lastUsed - a.lastUsed); // oldest at the end: pop()
  const deletedKeys: string[] = [];
  let deletedBytes = 0;
  while (total > options.targetBytes && queue.length > 0) {
    const [key, entry] = queue.pop()!;
    if (options.isPinned?.(key)) continue;
    let gone = false;
    try {
      await storage.delete(key);
    } catch (error) {
      // Another replica on a shared cache evicted it first: it is freed all the same, and
      // counting it so keeps this pass from deleting what the other pass already made room for.
      if (!(error instanceof NotFoundError)) continue;
      gone = true;
    }
    total -= entry.size;
    if (!gone) {
      deletedBytes += entry.size;
      deletedKeys.push(key);
    }
    for (const ref of entry.refs) {
      const target = entries.get(ref);
      if (!target) continue;
      target.refcount--;
      if (target.refcount === 0) {
        // keep the queue ordered newest-first so pop() takes the least recently used
        const at = queue.findIndex(([, e]) => e.lastUsed <= target.lastUsed);
        queue.splice(at === -1 ? queue.length : at, 0, [ref, target]);
      }
    }
  }
  return { totalBytes: total, deletedBytes, deletedKeys };
}

function existing(entries: Map<string, Entry>, keys: string[]): string[] {
  return keys.filter((k) => entries.has(k));
}

async function readJsonField(storage: Storage, key: string): Promise<string | undefined> {
  try {
    const object = await storage.read(key, { maxBytes: 4096 });
    const record = JSON.parse(new TextDecoder().decode(await collectBytes(object.body)));
    return typeof record.digest === "string" && /^sha(?:256|512):[0-9a-f]+$/.test(record.digest)
      ? record.digest
      : undefined;
  } catch {
    return undefined;
  }
}

/** The digests a stored manifest refers to: config, layers, child manifests. */
async function manifestReferences(storage: Storage, key: string): Promise<string[]> {
  try {
    const object = await storage.read(key, { maxBytes: MAX_MANIFEST_BYTES + 1024 });
    const raw = await collectBytes(object.body);
    const body = JSON.parse(new TextDecoder().decode(raw.subarray(raw.indexOf(0x0a) + 1)));
    const digests: unknown[] = [
      body?.config?.digest,
      ...(Array.isArray(body?.layers)
        ? body.layers.map((l: { digest?: unknown }) => l?.digest)
        : []),
      ...(Array.isArray(body?.manifests)
        ? body.manifests.map((m: { digest?: unknown }) => m?.digest)
        : []),
      // schema 1 manifests
      ...(Array.isArray(body?.fsLayers)
        ? body.fsLayers.map((l: { blobSum?: unknown }) => l?.blobSum)
        : []),
    ];
    return digests.filter((d): d is string =>
      typeof d === "string" && /^sha(?:256|512):[0-9a-f]+$/.test(d)
    );
  } catch {
    return [];
  }
}
