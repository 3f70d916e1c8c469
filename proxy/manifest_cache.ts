import { NotFoundError } from "../lib/errors.ts";
import { collectBytes } from "../lib/storage/read_bytes.ts";
import type { Storage } from "../lib/storage/storage.ts";
import { type AcceptClass, acceptClass, INDEX_TYPES } from "./accept_class.ts";
import { cacheKeys } from "./cache_keys.ts";
import { digestOf } from "./digest_of.ts";

/** A manifest's exact bytes and the media type the registry served it with. */
export interface CachedManifest {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
}

/** What a tag resolved to for one Accept class, and when the upstream last said so. */
export interface TagRecord {
  digest: string;
  mediaType: string;
  size: number;
  /** Epoch milliseconds of the last upstream answer. */
  checkedAt: number;
  /** The Accept class (its canonical form) the upstream answered; absent in old records. */
  accept?: string;
}

/** Manifests are small (Distribution caps them at 4 MiB); anything bigger is refused. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Manifests by digest (kept forever, re-verified on every read) and tag answers per Accept
 * class (see acceptClass), over a Storage. Guarantees: a manifest is stored only under the digest of its exact bytes and
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
   * The cached answer for a tag that a client of class `accepted` may get: its own class's
   * answer, else one the upstream would have given it too. That is an index of a type it
   * accepts, or a single-platform manifest of a type it accepts from a class that accepted every
   * index type this client does (so the tag was no index this client could have had). A client
   * that accepts lists never gets a single-platform answer meant for a narrower client.
   */
  async getTag(
    registry: string,
    repository: string,
    tag: string,
    accepted: AcceptClass,
  ): Promise<TagRecord | undefined> {
    const records = await this.#tagRecords(registry, repository, tag);
    const own = records.find((r) => r.accept === accepted.canonical);
    if (own) return own;
    const usable = records.filter((r) => {
      if (!accepted.types.has(r.mediaType)) return false;
      if (INDEX_TYPES.has(r.mediaType)) return accepted.indexTypes.size > 0;
      if (accepted.indexTypes.size === 0) return true;
      if (r.accept === undefined) return false;
      const theirs = acceptClassOfCanonical(r.accept);
      return [...accepted.indexTypes].every((t) => theirs.indexTypes.has(t));
    });
    usable.sort((a, b) => b.checkedAt - a.checkedAt);
    return usable[0];
  }

  /** Records the upstream's answer for a tag to clients of class `accepted`. */
  async putTag(
    registry: string,
    repository: string,
    tag: string,
    record: TagRecord,
    accepted: AcceptClass,
  ): Promise<void> {
    const key = cacheKeys.tag(registry, repository, tag, accepted.key);
    await this.#storage.write(key, JSON.stringify({ ...record, accept: accepted.canonical }));
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
        if (
          typeof record.digest === "string" && typeof record.mediaType === "string" &&
          (record.accept === undefined || typeof record.accept === "string")
        ) {
          records.push(record);
        }
      } catch {
        // a record that vanished or does not parse is simply not an answer
      }
    }
    return records;
  }
}

/** The class of a stored canonical Accept (sorted types joined by ","). */
function acceptClassOfCanonical(canonical: string): AcceptClass {
  return acceptClass(canonical.split(",").join(", "));
}
