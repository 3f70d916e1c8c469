import { NotFoundError, TooLargeError } from "../errors.ts";
import type { StorageReader, StoredObject } from "./storage.ts";

/** Options for {@linkcode collectBytes}. */
export interface CollectBytesOptions {
  /** Stop and throw TooLargeError past this many bytes (the "endless data" defence). */
  maxBytes?: number;
  /** What is being read, for the error message. */
  what?: string;
}

/** Reads a stream (or Blob) to its end into one buffer, enforcing a byte cap as it goes. */
export async function collectBytes(
  body: ReadableStream<Uint8Array> | Blob,
  options: CollectBytesOptions = {},
): Promise<Uint8Array> {
  const limit = options.maxBytes ?? Infinity;
  if (body instanceof Blob) {
    if (body.size > limit) throw new TooLargeError(options.what ?? "data", limit);
    return new Uint8Array(await body.arrayBuffer());
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw new TooLargeError(options.what ?? "data", limit);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Turns a stored object's body into a stream, whatever form the backend gave it in. */
export function bodyStream(object: StoredObject): ReadableStream<Uint8Array> {
  return object.body instanceof Blob ? object.body.stream() : object.body;
}

/** Reads a whole object into memory, refusing it when larger than `maxBytes`. */
export async function readBytes(
  storage: StorageReader,
  path: string,
  options: { maxBytes?: number } = {},
): Promise<Uint8Array> {
  const object = await storage.read(
    path,
    options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes },
  );
  return await collectBytes(object.body, { what: path, ...options });
}

/** Reads a whole object as UTF-8 text, refusing it when larger than `maxBytes`. */
export async function readText(
  storage: StorageReader,
  path: string,
  options: { maxBytes?: number } = {},
): Promise<string> {
  return new TextDecoder("utf-8", { fatal: true }).decode(await readBytes(storage, path, options));
}

/** Like {@linkcode readBytes}, but `undefined` when the object does not exist. */
export async function readBytesIfPresent(
  storage: StorageReader,
  path: string,
  options: { maxBytes?: number } = {},
): Promise<Uint8Array | undefined> {
  try {
    return await readBytes(storage, path, options);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}
