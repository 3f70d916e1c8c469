import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import * as nodePath from "node:path";
import { Readable } from "node:stream";
import { UsageError } from "../errors.ts";
import { hashStream } from "./hash.ts";

/** A local tarball described the way {@linkcode PublishPackage} wants it. */
export interface TarballFile {
  sha256: string;
  sha512: string;
  length: number;
  /** The file's base name. */
  name: string;
  open(): ReadableStream<Uint8Array>;
}

/**
 * Hashes a local file (streaming, never held in memory) and returns a source that reopens it for
 * writing. Throws UsageError naming the file when it cannot be read or is not a regular file.
 */
export async function tarballFromFile(path: string): Promise<TarballFile> {
  const info = await stat(path).catch((error) => {
    throw new UsageError(`Cannot read the tarball "${path}": ${error.code ?? error.message}`);
  });
  if (!info.isFile()) throw new UsageError(`Cannot publish "${path}": it is not a file`);
  const open = () =>
    Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>;
  const digest = await hashStream(open());
  return { ...digest, name: nodePath.basename(path), open };
}
