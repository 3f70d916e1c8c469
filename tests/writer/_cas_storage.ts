import { AlreadyExistsError } from "../../lib/errors.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import type {
  FileStat,
  ReadOptions,
  ReplaceIfMatchStorage,
  RequestOptions,
  StoredObject,
  WriteData,
  WriteOptions,
} from "../../lib/storage/storage.ts";

/**
 * MemoryStorage with identities and compare-and-swap, as an object store has them (S3 ETag and
 * If-Match): for lease tests without a server. The check and the swap happen without an await
 * between them, so they are atomic within the process.
 */
export class CasMemoryStorage extends MemoryStorage implements ReplaceIfMatchStorage {
  readonly #generation = new Map<string, number>();
  #next = 1;

  override async stat(path: string, options?: RequestOptions): Promise<FileStat> {
    const stat = await super.stat(path, options);
    return { ...stat, identity: String(this.#generation.get(path)) };
  }

  override async read(path: string, options?: ReadOptions): Promise<StoredObject> {
    const identity = String(this.#generation.get(path));
    const object = await super.read(path, options);
    return { ...object, stat: { ...object.stat, identity } };
  }

  override async write(path: string, data: WriteData, options?: WriteOptions): Promise<FileStat> {
    if (options?.ifAbsent && this.#generation.has(path)) throw new AlreadyExistsError(path);
    const generation = this.#next++;
    this.#generation.set(path, generation);
    const stat = await super.write(path, data, options);
    return { ...stat, identity: String(generation) };
  }

  override async delete(path: string, options?: RequestOptions): Promise<void> {
    await super.delete(path, options);
    this.#generation.delete(path);
  }

  replaceIfMatch(path: string, data: Uint8Array | string, identity: string) {
    if (String(this.#generation.get(path)) !== identity) return Promise.resolve(undefined);
    return this.write(path, data);
  }
}
