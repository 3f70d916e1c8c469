import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import { Parser, type ReadEntry } from "tar";

/** What kind of thing one tarball entry is. */
export type TarballEntryKind = "file" | "directory" | "symlink" | "link" | "other";

/** One entry of a tarball, by its normalised path (no leading `./`, no trailing `/`). */
export interface TarballEntry {
  path: string;
  kind: TarballEntryKind;
  /** The permission bits the archive records (0o755 for an executable file). */
  mode: number;
}

/**
 * Lists the entries of a local `.tar.gz` without unpacking it (streaming: memory stays flat
 * whatever its size). Paths are normalised the way an extraction lays them out: `./bin/x` and
 * `bin/x` are both `bin/x`. Throws SyntaxError when the file is not a gzip'd tarball, and the
 * file system's error when it cannot be read.
 *
 * @example
 * ```ts
 * const entries = await listTarball("package/hello-v0.0.1-linux-amd64.tar.gz");
 * entries.get("hello")?.kind; // "file"
 * ```
 */
export async function listTarball(path: string): Promise<Map<string, TarballEntry>> {
  const entries = new Map<string, TarballEntry>();
  const parser = new Parser({ strict: true });
  parser.on("entry", (entry: ReadEntry) => {
    const normalised = normaliseEntryPath(entry.path);
    if (normalised !== "") {
      entries.set(normalised, {
        path: normalised,
        kind: kindOf(entry.type),
        mode: (entry.mode ?? 0) & 0o7777,
      });
    }
    entry.resume();
  });
  let failure: unknown;
  parser.on("error", (error: Error) => (failure ??= error));
  const ended = new Promise<void>((resolve) => parser.on("end", () => resolve()));
  const gunzip = createGunzip();
  const input = createReadStream(path);
  input.on("error", (error) => gunzip.destroy(error));
  input.pipe(gunzip);
  try {
    for await (const chunk of gunzip as AsyncIterable<Uint8Array>) {
      if (failure) break;
      parser.write(chunk);
    }
    if (!failure) {
      parser.end();
      await ended;
    }
  } catch (error) {
    failure ??= error;
  }
  if (failure !== undefined) {
    input.destroy();
    const code = String((failure as { code?: unknown }).code ?? "");
    // Damaged gzip (Z_*) or tar (TAR_*) data says what the file is; anything else is I/O.
    if (!code.startsWith("Z_") && !code.startsWith("TAR_")) throw failure;
    throw new SyntaxError(`"${path}" is not a gzip-compressed tarball`, { cause: failure });
  }
  if (entries.size === 0) {
    throw new SyntaxError(`"${path}" is not a gzip-compressed tarball, or holds no entries`);
  }
  return entries;
}

/** `./bin//x/` → `bin/x`: the path an extraction creates. */
export function normaliseEntryPath(path: string): string {
  return path.split("/").filter((part) => part !== "" && part !== ".").join("/");
}

function kindOf(type: string): TarballEntryKind {
  switch (type) {
    case "File":
    case "OldFile":
    case "ContiguousFile":
      return "file";
    case "Directory":
      return "directory";
    case "SymbolicLink":
      return "symlink";
    case "Link":
      return "link";
    default:
      return "other";
  }
}
