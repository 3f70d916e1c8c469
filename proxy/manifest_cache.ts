import { NotFoundError } from "../lib/errors.ts";
import { collectBytes } from "../lib/storage/read_bytes.ts";
import type { Storage } from "../lib/storage/storage.ts";
import { cacheKeys } from "./cache_keys.ts";
import { digestOf } from "./digest_of.ts";

/** A manifest's exact bytes and the media type the registry served it with. */
export interface CachedManifest {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
}

/** What a tag resolved to, and when the upstream last said so. */
export interface TagRecord {
  digest: string;
  mediaType: string;
  size: number;
  /** Epoch milliseconds of the last upstream answer. */
  checkedAt: number;
}

/** Manifests are small (Distribution caps them at 4 MiB); anything bigger is refused. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Index and list types rank first: a registry returns the index when the client accepts it,
 * so an index answer for a tag beats a single-platform answer given to a narrower client.
 */
const RANK = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];

/**
 * Manifests by digest (kept forever, re-verified on every read) and tag answers by media type,
 * over a Storage. Guarantees: a manifest is stored only under the digest of its exact bytes and
 * is never re-serialized; a manifest whose stored bytes no longer match is dropped, not served.
 */
export class ManifestCache {
  readonly #storage: Storage;
  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /** The cached manifest with `digest`, or undefined. */
  async get(digest: string): Promise<CachedManifest | undefined> {
    const key = cacheKeys.manifest(digest);
    let raw: Uint8Array;
    try {
      const object = await this.#storage.read(key, { maxBytes: MAX_MANIFEST_BYTES + 1024 });
      raw = await collectBytes(object.body, { maxBytes: MAX_MANIFEST_BYTES + 1024, what: key });
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
    const newline = raw.indexOf(0x0a);
    const bytes = raw.subarray(newline + 1);
    if (newline <= 0 || digestOf(bytes, digest) !== digest) {
      await this.#storage.delete(key).catch(() => {});
      return undefined;
    }
    const mediaType = new TextDecoder().decode(raw.subarray(0, newline));
    return { digest, mediaType, bytes };
  }

  /** True when a manifest with `digest` is cached (not verified). */
  async has(digest: string): Promise<boolean> {
    return await this.#storage.stat(cacheKeys.manifest(digest)).then(() => true, () => false);
  }

  /** Stores `bytes` under `digest`; throws TypeError when they do not match (a caller bug). */
  async put(manifest: CachedManifest): Promise<void> {
    if (digestOf(manifest.bytes, manifest.digest) !== manifest.digest) {
      throw new TypeError(`Manifest bytes do not match "${manifest.digest}"`);
    }
    const head = new TextEncoder().encode(`${manifest.mediaType.replace(/[\r\n]/g, "")}\n`);
    const raw = new Uint8Array(head.length + manifest.bytes.length);
    raw.set(head);
    raw.set(manifest.bytes, head.length);
    await this.#storage.write(cacheKeys.manifest(manifest.digest), raw);
  }

  /**
   * The best cached answer for a tag that a client accepting `accept` may get: index types
   * first (see RANK). `accept` empty or containing a wildcard accepts every type.
   */
  async getTag(
    registry: string,
    repository: string,
    tag: string,
    accept: string[],
  ): Promise<TagRecord | undefined> {
    const records = await this.#tagRecords(registry, repository, tag);
    const any = accept.length === 0 || accept.some((t) => t === "*/*" || t.endsWith("/*"));
    const acceptable = records.filter((r) => any || accept.includes(r.mediaType));
    acceptable.sort((a, b) => rank(a.mediaType) - rank(b.mediaType) || b.checkedAt - a.checkedAt);
    return acceptable[0];
  }

  /**
   * Records the upstream's answer for a tag. Answers of higher-ranked types that the client
   * also accepted are removed: had the tag still been an index, the upstream would have said so.
   */
  async putTag(
    registry: string,
    repository: string,
    tag: string,
    record: TagRecord,
    accept: string[],
  ): Promise<void> {
    const key = cacheKeys.tag(registry, repository, tag, record.mediaType);
    if (key === undefined) return;
    await this.#storage.write(key, JSON.stringify(record));
    const any = accept.length === 0 || accept.some((t) => t.endsWith("/*"));
    for (const other of await this.#tagRecords(registry, repository, tag)) {
      if (other.mediaType === record.mediaType) continue;
      if (
        rank(other.mediaType) < rank(record.mediaType) && (any || accept.includes(other.mediaType))
      ) {
        const otherKey = cacheKeys.tag(registry, repository, tag, other.mediaType);
        if (otherKey) await this.#storage.delete(otherKey).catch(() => {});
      }
    }
  }

  /** Forgets every answer for a tag (the upstream says it no longer exists). */
  async deleteTag(registry: string, repository: string, tag: string): Promise<void> {
    for await (const stat of this.#storage.list(cacheKeys.tagFolder(registry, repository, tag))) {
      await this.#storage.delete(stat.path).catch(() => {});
    }
  }

  async #tagRecords(registry: string, repository: string, tag: string): Promise<TagRecord[]> {
    const records: TagRecord[] = [];
    for await (const stat of this.#storage.list(cacheKeys.tagFolder(registry, repository, tag))) {
      try {
        const object = await this.#storage.read(stat.path, { maxBytes: 4096 });
        const text = new TextDecoder().decode(await collectBytes(object.body, { maxBytes: 4096 }));
        const record = JSON.parse(text) as TagRecord;
        if (typeof record.digest === "string" && typeof record.mediaType === "string") {
          records.push(record);
        }
      } catch {
        // a record that vanished or does not parse is simply not an answer
      }
    }
    return records;
  }
}

function rank(mediaType: string): number {
  const index = RANK.indexOf(mediaType);
  return index === -1 ? RANK.length : index;
}
