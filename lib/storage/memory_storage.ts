import { AlreadyExistsError, NotFoundError, TooLargeError } from "../errors.ts";
import { checkPath, checkPrefix } from "./check_path.ts";
import { abortableBody } from "./abortable_body.ts";
import { collectBytes } from "./read_bytes.ts";
import type {
  FileStat,
  ReadOptions,
  RequestOptions,
  Storage,
  StoredObject,
  WriteData,
  WriteOptions,
} from "./storage.ts";

/** Storage held in memory: for tests and for the updater's repository simulator. */
export class MemoryStorage implements Storage {
  readonly location: string;
  readonly #files = new Map<string, { bytes: Uint8Array; modified: Date }>();

  constructor(location = "memory:") {
    this.location = location;
  }

  // async, so that a refused path is a rejected promise like every other failure.
  // deno-lint-ignore require-await
  async stat(path: string, options: RequestOptions = {}): Promise<FileStat> {
    checkPath(path);
    options.signal?.throwIfAborted();
    const file = this.#files.get(path);
    if (!file) throw new NotFoundError(path);
    return { path, size: file.bytes.length, modified: file.modified };
  }

  async read(path: string, options: ReadOptions = {}): Promise<StoredObject> {
    const stat = await this.stat(path, options);
    if (options.maxBytes !== undefined && stat.size > options.maxBytes) {
      throw new TooLargeError(path, options.maxBytes);
    }
    const bytes = this.#files.get(path)?.bytes ?? new Uint8Array();
    const { start, end } = options.range ?? { start: 0, end: bytes.length - 1 };
    return { stat, body: abortableBody(new Blob([bytes.slice(start, end + 1)]), options.signal) };
  }

  async *list(prefix: string, options: RequestOptions = {}): AsyncIterable<FileStat> {
    checkPrefix(prefix);
    options.signal?.throwIfAborted();
    const keys = [...this.#files.keys()].filter((k) => k.startsWith(prefix)).sort();
    for (const key of keys) yield await this.stat(key);
  }

  async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<FileStat> {
    checkPath(path);
    const bytes = typeof data === "string"
      ? new TextEncoder().encode(data)
      : data instanceof Uint8Array
      ? data.slice()
      : await collectBytes(abortableBody(data, options.signal), { what: path });
    options.signal?.throwIfAborted();
    if (options.ifAbsent && this.#files.has(path)) throw new AlreadyExistsError(path);
    this.#files.set(path, { bytes, modified: new Date() });
    return await this.stat(path);
  }

  // deno-lint-ignore require-await
  async delete(path: string, options: RequestOptions = {}): Promise<void> {
    checkPath(path);
    options.signal?.throwIfAborted();
    if (!this.#files.delete(path)) throw new NotFoundError(path);
  }
}
