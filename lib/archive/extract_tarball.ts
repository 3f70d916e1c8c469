import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { type ReadEntry, Unpack } from "tar";
import { AlreadyExistsError, NotFoundError, printable } from "../errors.ts";
import { ArchiveError } from "./archive_error.ts";

/** Default cap on the bytes a tarball may unpack to: 8 GiB (TiFlash is the largest at ~2 GiB). */
export const DEFAULT_MAX_EXTRACT_BYTES = 8 * 1024 ** 3;
/** Default cap on the number of entries in a tarball. */
export const DEFAULT_MAX_EXTRACT_ENTRIES = 100_000;

/** Where the tarball comes from: a local file path, a stream, or a Blob (`StoredObject.body`). */
export type TarballSource = string | ReadableStream<Uint8Array> | Blob;

/** Options for {@linkcode extractTarball}. */
export interface ExtractTarballOptions {
  /** Refuse the archive when its entries hold more than this many bytes in total. */
  maxBytes?: number;
  /** Refuse the archive when it has more than this many entries. */
  maxEntries?: number;
  /** The archive's name in error messages (default: the source path, or "archive"). */
  name?: string;
  /** Replace `destination` if it exists (default: refuse with AlreadyExistsError). */
  replace?: boolean;
  /** Stops the extraction; nothing is left behind. */
  signal?: AbortSignal;
}

/** What {@linkcode extractTarball} unpacked. */
export interface ExtractTarballResult {
  /** Absolute path of the destination directory. */
  destination: string;
  /** Entries written (files, directories, links). */
  entries: number;
  /** Bytes of file content written. */
  bytes: number;
}

/** Kinds of things an archive may create. */
type Kind = "file" | "directory" | "symlink";

/** How deep a chain of symlinks may go before we call it a loop (Linux uses 40). */
const MAX_LINK_HOPS = 40;
/** Tar headers and padding per entry, allowed on top of `maxBytes` in the decompressed stream. */
const HEADER_ALLOWANCE = 3 * 512;
/** How long we wait for node-tar to finish in-flight writes after a failure before cleaning up. */
const SETTLE_TIMEOUT_MS = 30_000;

/**
 * Unpacks a `.tar.gz` into `destination`, safely, all or nothing.
 *
 * Guarantees:
 * - Everything is unpacked into a fresh temporary directory beside `destination`
 *   (`.ferry-extract-*`, hidden) and renamed into place only when the whole archive was read
 *   and checked. On any failure the temporary directory is removed and `destination` is left
 *   as it was: no partial extraction is ever visible.
 * - Refused, with an {@linkcode ArchiveError} naming the entry: absolute paths, `..` segments,
 *   paths through a symlink, symlinks whose target resolves outside the destination (following
 *   the archive's own symlinks), hard links to anything but a regular file earlier in the
 *   archive, device files, FIFOs and any other special entry, an entry that changes the kind of
 *   an earlier one (a directory replaced by a symlink…), more than `maxEntries` entries or more
 *   than `maxBytes` bytes, and a damaged or truncated gzip or tar stream.
 * - Files are created with mode 0755 when the archive gives them any executable bit and 0644
 *   otherwise (directories 0755): the executable bit survives, setuid/setgid/sticky and
 *   group/world write do not. Owners are never taken from the archive, even when run as root.
 * - Streaming: memory stays flat whatever the archive size.
 *
 * @example
 * ```ts
 * await extractTarball("hello-v0.0.1-linux-amd64.tar.gz", `${home}/components/hello/v0.0.1`);
 * ```
 */
export async function extractTarball(
  source: TarballSource,
  destination: string,
  options: ExtractTarballOptions = {},
): Promise<ExtractTarballResult> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_EXTRACT_BYTES;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_EXTRACT_ENTRIES;
  const label = options.name ?? (typeof source === "string" ? source : "archive");
  const target = nodePath.resolve(destination);
  const parent = nodePath.dirname(target);

  if (!options.replace && await exists(target)) throw new AlreadyExistsError(target);
  if (typeof source === "string" && !await exists(source)) throw new NotFoundError(source);
  const input = openSource(source);
  await fs.mkdir(parent, { recursive: true });
  const temp = await fs.mkdtemp(nodePath.join(parent, ".ferry-extract-"));
  try {
    const stats = await unpackInto(temp, input, {
      label,
      maxBytes,
      maxEntries,
      signal: options.signal,
    });
    await checkTree(temp, label);
    await fs.chmod(temp, 0o755);
    await moveIntoPlace(temp, target, options.replace === true);
    return { destination: target, ...stats };
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true });
    throw error;
  }
}

interface UnpackLimits {
  label: string;
  maxBytes: number;
  maxEntries: number;
  signal: AbortSignal | undefined;
}

async function unpackInto(
  dir: string,
  input: Readable,
  limits: UnpackLimits,
): Promise<{ entries: number; bytes: number }> {
  const { label, maxBytes, maxEntries, signal } = limits;
  const checker = new EntryChecker(label, maxBytes, maxEntries);
  let failure: Error | undefined;
  let onFailure = () => {};
  const failed = new Promise<void>((resolve) => (onFailure = resolve));
  const fail = (error: Error) => {
    failure ??= error;
    onFailure();
  };

  // We decompress ourselves (node:zlib) rather than let node-tar do it, so that on any failure
  // we can stop feeding and end() the unpacker: node-tar then finishes its in-flight writes and
  // emits "close", after which removing the temporary directory is final. (node-tar's own
  // abort() leaves writes pending with no event to wait for.)
  const unpack = new Unpack({
    cwd: dir,
    strict: true,
    preserveOwner: false,
    filter: (_path: string, entry: unknown) => {
      if (failure) return false;
      try {
        return checker.check(entry as ReadEntry);
      } catch (error) {
        fail(error as Error);
        return false;
      }
    },
  });
  const closed = new Promise<void>((resolve) => unpack.on("close", () => resolve()));
  unpack.on("error", (error: Error & { entry?: { path?: string }; tarCode?: string }) => {
    const entry = error.entry?.path;
    const reason = /Truncated input/.test(error.message)
      ? "the tar stream is truncated"
      : error.tarCode === "TAR_BAD_ARCHIVE"
      ? "it holds no entries or is not a tarball"
      : entry !== undefined
      ? `entry "${printable(entry)}" cannot be written: ${error.message}`
      : error.message;
    fail(new ArchiveError(label, reason, entry, { cause: error }));
  });

  const gunzip = createGunzip();
  input.on("error", (error) => gunzip.destroy(error));
  input.pipe(gunzip);
  // The decompressed stream is headers + contents + padding; cap it too, so a bomb of padding
  // or ignored entries cannot make us decompress forever.
  const streamCap = maxBytes + (maxEntries + 2) * HEADER_ALLOWANCE + 10 * 1024 * 1024;
  let streamed = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Uint8Array>) {
      if (failure) break;
      if (signal?.aborted) {
        fail(
          new ArchiveError(label, "the extraction was cancelled", undefined, {
            cause: signal.reason,
          }),
        );
        break;
      }
      streamed += chunk.length;
      if (streamed > streamCap) {
        fail(new ArchiveError(label, `it unpacks to more than ${maxBytes} bytes`));
        break;
      }
      if (!unpack.write(chunk as Buffer)) {
        await Promise.race([new Promise((resolve) => unpack.once("drain", resolve)), failed]);
      }
    }
  } catch (error) {
    fail(gzipError(label, error));
  } finally {
    input.unpipe(gunzip);
    input.destroy();
    gunzip.destroy();
  }
  unpack.end();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    closed,
    new Promise((resolve) => (timer = setTimeout(resolve, SETTLE_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (failure) throw failure;
  if (!checker.sawEntry) throw new ArchiveError(label, "it holds no entries or is not a tarball");
  return { entries: checker.entries, bytes: checker.bytes };
}

/** The per-entry rules, applied in node-tar's filter before anything is written. */
class EntryChecker {
  entries = 0;
  bytes = 0;
  sawEntry = false;
  /** What each path in the archive is so far. */
  #kinds = new Map<string, Kind>();
  /** Symlink path → link text, to resolve later links the way the filesystem will. */
  #links = new Map<string, string>();

  constructor(
    readonly label: string,
    readonly maxBytes: number,
    readonly maxEntries: number,
  ) {}

  /** Returns true to extract the entry, false to skip it; throws ArchiveError to refuse. */
  check(entry: ReadEntry): boolean {
    this.sawEntry = true;
    const raw = String(entry.path);
    const parts = this.#pathParts(raw);
    if (parts.length === 0) {
      // "./" — the destination itself. Not extracted: it may not change the destination's mode.
      if (entry.type === "Directory") return false;
      this.#refuse(raw, "is not a directory but names the destination itself");
    }
    const path = parts.join("/");
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join("/");
      if (this.#kinds.get(ancestor) === "symlink") {
        this.#refuse(raw, `goes through the symlink "${printable(ancestor)}"`);
      }
      if (this.#kinds.get(ancestor) === "file") {
        this.#refuse(raw, `is below "${printable(ancestor)}", which is a file`);
      }
      // Parents an archive does not list are created as directories: remember them as such,
      // so that a later entry cannot turn one into a symlink.
      if (!this.#kinds.has(ancestor)) this.#kinds.set(ancestor, "directory");
    }
    this.entries++;
    if (this.entries > this.maxEntries) {
      throw new ArchiveError(this.label, `it has more than ${this.maxEntries} entries`, raw);
    }

    let kind: Kind;
    switch (entry.type) {
      case "File":
      case "OldFile":
      case "ContiguousFile":
        kind = "file";
        this.bytes += entry.size;
        if (this.bytes > this.maxBytes) {
          throw new ArchiveError(this.label, `it unpacks to more than ${this.maxBytes} bytes`, raw);
        }
        entry.mode = (entry.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
        break;
      case "Directory":
        kind = "directory";
        entry.mode = 0o755;
        break;
      case "SymbolicLink":
        kind = "symlink";
        this.#checkSymlink(raw, parts, String(entry.linkpath ?? ""));
        break;
      case "Link":
        kind = "file";
        this.#checkHardLink(raw, String(entry.linkpath ?? ""));
        break;
      default:
        this.#refuse(
          raw,
          `is a ${describeType(entry.type)}; only files, directories and links are allowed`,
        );
    }
    const previous = this.#kinds.get(path);
    if (previous !== undefined && (previous !== kind || kind === "symlink")) {
      this.#refuse(raw, `replaces the earlier ${previous} of the same name`);
    }
    this.#kinds.set(path, kind);
    if (kind === "symlink") this.#links.set(path, String(entry.linkpath));
    // node-tar writes to entry.path: hand it the normalized form we checked.
    entry.path = path;
    return true;
  }

  #pathParts(raw: string): string[] {
    if (raw.includes("\0")) this.#refuse(raw, "has a NUL byte in its name");
    if (raw.includes("\\")) this.#refuse(raw, "has a backslash in its name");
    if (raw.startsWith("/") || /^[a-zA-Z]:/.test(raw)) this.#refuse(raw, "has an absolute path");
    const parts = raw.split("/").filter((part) => part !== "" && part !== ".");
    if (parts.includes("..")) this.#refuse(raw, 'has a ".." segment');
    return parts;
  }

  #checkSymlink(raw: string, parts: string[], linkpath: string): void {
    if (linkpath === "") this.#refuse(raw, "is a symlink with an empty target");
    if (linkpath.includes("\0")) this.#refuse(raw, "is a symlink whose target has a NUL byte");
    if (linkpath.startsWith("/")) {
      this.#refuse(raw, `is a symlink to the absolute path "${printable(linkpath)}"`);
    }
    const from = parts.slice(0, -1);
    if (resolveInside([...from, ...linkpath.split("/")], this.#links) === undefined) {
      this.#refuse(raw, `is a symlink to "${printable(linkpath)}", outside the destination`);
    }
  }

  #checkHardLink(raw: string, linkpath: string): void {
    if (linkpath.startsWith("/")) {
      this.#refuse(raw, `is a hard link to the absolute path "${printable(linkpath)}"`);
    }
    const parts = linkpath.split("/").filter((part) => part !== "" && part !== ".");
    if (parts.includes("..") || parts.length === 0) {
      this.#refuse(raw, `is a hard link to "${printable(linkpath)}", outside the destination`);
    }
    if (this.#kinds.get(parts.join("/")) !== "file") {
      this.#refuse(
        raw,
        `is a hard link to "${printable(linkpath)}", which is not a file earlier in the archive`,
      );
    }
  }

  #refuse(entry: string, reason: string): never {
    throw new ArchiveError(this.label, `entry "${printable(entry)}" ${reason}`, entry);
  }
}

/**
 * Resolves a path inside the archive the way the kernel will once it is extracted: `..` pops a
 * segment, and a segment that is one of the archive's symlinks is replaced by its target.
 * Returns the resolved segments, or undefined when the path leaves the root (or loops).
 */
function resolveInside(segments: string[], links: Map<string, string>): string[] | undefined {
  const resolved: string[] = [];
  const queue = [...segments];
  let hops = 0;
  while (queue.length > 0) {
    const segment = queue.shift() as string;
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (resolved.length === 0) return undefined;
      resolved.pop();
      continue;
    }
    resolved.push(segment);
    const target = links.get(resolved.join("/"));
    if (target === undefined) continue;
    if (++hops > MAX_LINK_HOPS || target.startsWith("/")) return undefined;
    resolved.pop();
    queue.unshift(...target.split("/"));
  }
  return resolved;
}

/**
 * Defence in depth, after node-tar is done and before the rename: every symlink actually on
 * disk must resolve inside the tree, and nothing but files, directories and symlinks exists.
 * (A later entry could in principle change what an earlier link resolves through.)
 */
async function checkTree(root: string, label: string): Promise<void> {
  const links = new Map<string, string>();
  const walk = async (relative: string): Promise<void> => {
    const dir = relative === "" ? root : nodePath.join(root, relative);
    for (const child of await fs.readdir(dir, { withFileTypes: true })) {
      const path = relative === "" ? child.name : `${relative}/${child.name}`;
      if (child.isSymbolicLink()) {
        links.set(path, await fs.readlink(nodePath.join(root, path)));
      } else if (child.isDirectory()) {
        await walk(path);
      } else if (!child.isFile()) {
        throw new ArchiveError(label, `entry "${printable(path)}" is not a regular file`, path);
      }
    }
  };
  await walk("");
  for (const [path, target] of links) {
    const from = path.split("/").slice(0, -1);
    if (resolveInside([...from, ...target.split("/")], links) === undefined) {
      throw new ArchiveError(
        label,
        `entry "${printable(path)}" is a symlink to "${
          printable(target)
        }", outside the destination`,
        path,
      );
    }
  }
}

async function moveIntoPlace(temp: string, target: string, replace: boolean): Promise<void> {
  if (!replace) {
    await fs.rename(temp, target).catch((error) => {
      const code = (error as { code?: string }).code;
      if (code === "ENOTEMPTY" || code === "EEXIST") throw new AlreadyExistsError(target);
      throw error;
    });
    return;
  }
  // Swap: move the old tree aside under a hidden name, put the new one in place, then delete
  // the old one. A reader sees the old tree or the new one, never a mix.
  const aside = nodePath.join(
    nodePath.dirname(target),
    `.ferry-old-${randomBytes(6).toString("hex")}`,
  );
  const hadOld = await fs.rename(target, aside).then(() => true, (error) => {
    if ((error as { code?: string }).code === "ENOENT") return false;
    throw error;
  });
  try {
    await fs.rename(temp, target);
  } catch (error) {
    if (hadOld) await fs.rename(aside, target).catch(() => {});
    throw error;
  }
  if (hadOld) await fs.rm(aside, { recursive: true, force: true });
}

function openSource(source: TarballSource): Readable {
  if (typeof source === "string") return createReadStream(source);
  const web = source instanceof Blob ? source.stream() : source;
  return Readable.fromWeb(web as import("node:stream/web").ReadableStream<Uint8Array>);
}

function gzipError(label: string, error: unknown): Error {
  if (error instanceof NotFoundError || error instanceof ArchiveError) return error;
  const code = (error as { code?: string }).code ?? "";
  const message = error instanceof Error ? error.message : String(error);
  if (/unexpected end of file/i.test(message) || code === "Z_BUF_ERROR") {
    return new ArchiveError(label, "the gzip stream is truncated", undefined, { cause: error });
  }
  if (code.startsWith("Z_") || /header check|invalid|incorrect|gzip|zlib/i.test(message)) {
    return new ArchiveError(label, "it is not a valid gzip stream", undefined, { cause: error });
  }
  return error instanceof Error ? error : new Error(message);
}

function describeType(type: string): string {
  switch (type) {
    case "CharacterDevice":
      return "character device";
    case "BlockDevice":
      return "block device";
    case "FIFO":
      return "FIFO";
    default:
      return `"${printable(type)}" entry`;
  }
}

async function exists(path: string): Promise<boolean> {
  return await fs.lstat(path).then(() => true, () => false);
}
