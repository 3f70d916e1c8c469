import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import * as nodePath from "node:path";
import { Readable } from "node:stream";
import { listTarball, type TarballEntry } from "../archive/list_tarball.ts";
import { UsageError } from "../errors.ts";
import { hashStream } from "../format/hash.ts";

/** A local tarball described the way {@linkcode PublishPackage} wants it. */
export interface TarballFile {
  sha256: string;
  sha512: string;
  length: number;
  /** The file's base name. */
  name: string;
  /** What the tarball holds, by normalised path (so publish can check the entry). */
  entries: Map<string, TarballEntry>;
  open(): ReadableStream<Uint8Array>;
}

/**
 * Hashes a local file (streaming, never held in memory) and returns a source that reopens it for
 * writing, with the list of its entries. Throws UsageError naming the file when it cannot be
 * read, is not a regular file, or is not a gzip-compressed tarball.
 */
export async function tarballFromFile(path: string): Promise<TarballFile> {
  const info = await stat(path).catch((error) => {
    throw new UsageError(`Cannot read the tarball "${path}": ${error.code ?? error.message}`);
  });
  if (!info.isFile()) throw new UsageError(`Cannot publish "${path}": it is not a file`);
  const open = () =>
    Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>;
  const [digest, entries] = await Promise.all([
    hashStream(open()),
    listTarball(path).catch((error) => {
      if (!(error instanceof SyntaxError)) throw error;
      throw new UsageError(
        `Cannot publish "${path}": it is not a gzip-compressed tarball (make one with ` +
          `"ferry package" or tar -czf)`,
      );
    }),
  ]);
  return { ...digest, name: nodePath.basename(path), entries, open };
}
