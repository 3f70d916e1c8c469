import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { create } from "tar";
import { NotFoundError, PathError, printable } from "../errors.ts";

/** Options for {@linkcode packTarball}. */
export interface PackTarballOptions {
  /** Directory the targets are relative to, like `tar -C DIR` (default: the current directory). */
  cwd?: string;
  /** Store this modification time for every entry (byte-identical output for identical input). */
  mtime?: Date;
  /**
   * Leave out an entry (and, for a directory, everything below it). Called with the entry's
   * archive path, e.g. `"package"` or `"bin/hello"`.
   */
  exclude?: (path: string) => boolean;
}

/**
 * Packs files and directories into a gzip-compressed tar stream, like
 * `tar -czf - [-C cwd] targets...`.
 *
 * Guarantees:
 * - Targets must be relative paths that stay inside `cwd` (no leading `/`, no `..` segment):
 *   PathError otherwise; a missing target throws NotFoundError. Both are thrown before any
 *   byte is produced.
 * - Directories are walked here and their entries listed in sorted (code unit) order, so the
 *   archive does not depend on the order the filesystem returns names in. Entries carry no
 *   uid/gid/user names (node-tar's `portable` mode); symlinks are stored as symlinks.
 * - Streaming: files are read as the stream is pulled; memory stays flat whatever the size.
 *   Writing the stream somewhere atomically is the caller's choice (`Storage.write` does).
 *
 * @example
 * ```ts
 * const body = await packTarball(["hello"], { cwd: "build" });
 * await new LocalStorage(".").write("package/hello-v0.0.1-linux-amd64.tar.gz", body);
 * ```
 */
export async function packTarball(
  targets: string[],
  options: PackTarballOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const cwd = nodePath.resolve(options.cwd ?? ".");
  if (targets.length === 0) throw new RangeError("packTarball() needs at least one target");
  const entries: string[] = [];
  for (const target of targets) {
    const relative = checkTarget(target);
    const info = await fs.lstat(nodePath.join(cwd, relative)).catch((error) => {
      if ((error as { code?: string }).code === "ENOENT") {
        throw new NotFoundError(target, { cause: error });
      }
      throw error;
    });
    await collect(cwd, relative, info.isDirectory(), options.exclude, entries);
  }
  const pack = create(
    {
      cwd,
      // With `portable`, node-tar also leaves the OS byte and mtime out of the gzip header.
      gzip: true,
      portable: true,
      noDirRecurse: true,
      ...(options.mtime ? { mtime: options.mtime } : {}),
    },
    entries,
  );
  const iterator = pack[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else {controller.enqueue(
          new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.length),
        );}
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

/** Normalizes a target to a relative archive path, or throws PathError. */
function checkTarget(target: string): string {
  if (target === "" || target.includes("\0")) {
    throw new PathError(target, "a target must be a non-empty path");
  }
  if (nodePath.isAbsolute(target)) {
    throw new PathError(target, "targets must be relative to the packing directory (use -C)");
  }
  const normalized = nodePath.posix.normalize(target.replaceAll(/\/+$/g, "") || ".");
  if (normalized === ".." || normalized.startsWith("../") || normalized.split("/").includes("..")) {
    throw new PathError(printable(target), "a target must not leave the packing directory");
  }
  return normalized;
}

async function collect(
  cwd: string,
  relative: string,
  isDirectory: boolean,
  exclude: ((path: string) => boolean) | undefined,
  entries: string[],
): Promise<void> {
  if (relative !== "." && exclude?.(relative)) return;
  // "." itself is not stored: extracting it would set the mode and mtime of the destination.
  if (relative !== ".") entries.push(relative);
  if (!isDirectory) return;
  const children = await fs.readdir(nodePath.join(cwd, relative), { withFileTypes: true });
  const names = children.map((child) => child.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const directories = new Set(children.filter((c) => c.isDirectory()).map((c) => c.name));
  for (const name of names) {
    const child = relative === "." ? name : `${relative}/${name}`;
    await collect(cwd, child, directories.has(name), exclude, entries);
  }
}
