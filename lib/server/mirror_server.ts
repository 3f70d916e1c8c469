import { Hono } from "hono";
import type { Context } from "hono";
import { NotFoundError, PathError, StorageError, TooLargeError } from "../errors.ts";
import { hasControlCharacter, MAX_PATH_LENGTH } from "../storage/check_path.ts";
import { collectBytes } from "../storage/read_bytes.ts";
import type { FileStat, StorageReader } from "../storage/storage.ts";
import { type AccessRecord, formatAccessLine } from "./access_log.ts";
import { cacheControlFor, contentTypeFor } from "./cache_policy.ts";
import { parseRange } from "./parse_range.ts";

/** Options for {@linkcode createMirrorServer}. */
export interface MirrorServerOptions {
  /** Receives one formatted line per request; omit to log nothing. */
  onAccess?: (line: string, record: AccessRecord) => void;
  /** Answered with 200 and a JSON status, never looked up in storage. */
  healthPath?: string;
  /** Files up to this size are kept in memory once read. Default 256 KiB; 0 turns it off. */
  memoryCacheFileBytes?: number;
  /** Total bytes the memory cache may hold. Default 64 MiB. */
  memoryCacheTotalBytes?: number;
  /** Clock for log times (tests). */
  now?: () => Date;
}

/** Server bindings: the client address comes from the runtime adapter. */
export type MirrorServerEnv = { Bindings: { remoteAddress?: string } };

/**
 * A static HTTP server over a mirror's storage, built for TiUP clients and LAN caches:
 * GET and HEAD; a single Range (206/416); ETag and Last-Modified validators (304); Cache-Control
 * that lets caches keep versioned files forever and revalidate the mutable top-level manifests;
 * query strings ignored (TiUP's install script appends `?date`). Missing files are always 404,
 * never 403: a TiUP client stops walking the root chain only on 404. Paths that try to leave the
 * mirror (`..`, encoded or not, NUL, backslashes, over-long) get 400 and never reach storage, and
 * the mirror's private `keys/` directory and dotfiles are never served.
 *
 * Small hot files (manifests) are answered from memory; large ones are streamed (sendfile on Bun)
 * with flat memory. Returns a Hono app; run it with `serveHttp(app.fetch)` or test it with
 * `app.request(path)`.
 */
export function createMirrorServer(storage: StorageReader, options: MirrorServerOptions = {}) {
  // Every route below is "*" and reads the raw path itself (rawPath), so Hono need not parse
  // the URL for routing: a constant path saves that work on every request.
  const app = new Hono<MirrorServerEnv>({ getPath: () => "/" });
  const healthPath = options.healthPath ?? "/_ferry/health";
  const cache = new SmallFileCache(
    options.memoryCacheFileBytes ?? 256 * 1024,
    options.memoryCacheTotalBytes ?? 64 * 1024 * 1024,
  );
  const now = options.now ?? (() => new Date());

  if (options.onAccess) {
    const onAccess = options.onAccess;
    app.use("*", async (c, next) => {
      const started = performance.now();
      await next();
      const record: AccessRecord = {
        remoteAddress: c.env?.remoteAddress ?? "-",
        method: c.req.method,
        path: rawPath(c.req.url),
        status: c.res.status,
        bytes: Number(c.res.headers.get("content-length") ?? 0),
        durationMs: performance.now() - started,
        userAgent: c.req.header("user-agent") ?? "-",
        time: now(),
      };
      onAccess(formatAccessLine(record), record);
    });
  }

  app.on(["GET", "HEAD"], "*", async (c) => {
    const raw = rawPath(c.req.url);
    if (raw === healthPath) return c.json({ status: "ok" });
    const path = mirrorPath(raw);
    if (path.kind === "error") return c.text(`${path.message}\n`, path.status);
    if (path.kind === "index") return c.text(indexText(c.req.url), 200);
    if (isPrivate(path.path)) return c.text("Not found\n", 404);
    const stat = await storage.stat(path.path);
    return await serveFile(c, storage, stat, cache);
  });

  app.all("*", (c) => {
    c.header("allow", "GET, HEAD");
    return c.text("Method not allowed: this mirror is read-only\n", 405);
  });

  app.onError((error, c) => {
    if (error instanceof NotFoundError) return c.text("Not found\n", 404);
    if (error instanceof PathError) return c.text("Bad path\n", 400);
    if (error instanceof TooLargeError) return c.text("Too large\n", 413);
    if (error instanceof StorageError) return c.text("Storage error\n", 500);
    return c.text("Internal error\n", 500);
  });

  return app;
}

type MirrorPath =
  | { kind: "file"; path: string }
  | { kind: "index" }
  | { kind: "error"; status: 400 | 404 | 414; message: string };

function rawPath(url: string): string {
  // new URL() normalizes "/a/../b" away; read the path as the client sent it instead.
  const afterScheme = url.indexOf("//");
  const pathStart = url.indexOf("/", afterScheme + 2);
  if (pathStart === -1) return "/";
  const end = url.search(/[?#]/);
  return end === -1 || end < pathStart ? url.slice(pathStart) : url.slice(pathStart, end);
}

function mirrorPath(raw: string): MirrorPath {
  if (raw.length > MAX_PATH_LENGTH * 3) {
    return { kind: "error", status: 414, message: "Path too long" };
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return { kind: "error", status: 400, message: "Bad path encoding" };
  }
  const relative = decoded.replace(/^\/+/, "");
  if (relative === "") return { kind: "index" };
  if (relative.length > MAX_PATH_LENGTH) {
    return { kind: "error", status: 414, message: "Path too long" };
  }
  if (relative.endsWith("/")) return { kind: "error", status: 404, message: "Not found" };
  if (
    hasControlCharacter(relative) || relative.includes("\\") ||
    relative.split("/").some((s) => s === ".." || s === "." || s === "")
  ) {
    return { kind: "error", status: 400, message: "Bad path" };
  }
  return { kind: "file", path: relative };
}

/** Never served: private keys, the writer's lock, temp files and other dotfiles. */
function isPrivate(path: string): boolean {
  return path === "keys" || path.startsWith("keys/") || path === "lock" ||
    path.split("/").some((segment) => segment.startsWith("."));
}

function indexText(url: string): string {
  const base = url.replace(/[?#].*$/, "").replace(/\/+$/, "");
  return [
    "This is a TiUP-compatible mirror served by ferry.",
    "",
    `Use it:   ferry mirror set ${base}     (or: tiup mirror set ${base})`,
    `Install:  curl -fsSL ${base}/install.sh | sh`,
    "",
  ].join("\n");
}

function etagFor(stat: FileStat): string {
  // Millisecond mtime, not seconds: timestamp.json is rewritten in place, often at the same size,
  // and two publishes within one second must not share a validator (or a memory-cache entry).
  return `"${stat.size.toString(16)}-${stat.modified.getTime().toString(16)}"`;
}

async function serveFile(
  c: Context<MirrorServerEnv>,
  storage: StorageReader,
  stat: FileStat,
  cache: SmallFileCache,
): Promise<Response> {
  // Fast path for the common case: a plain GET of a hot small file (a manifest). Its headers
  // were built once, when it entered the cache; an unchanged size and mtime (what the ETag is
  // made of) prove the file is unchanged.
  const hot = cache.peek(stat);
  if (hot?.headers && c.req.method === "GET" && !isConditional(c.req.raw.headers)) {
    return new Response(hot.bytes as Uint8Array<ArrayBuffer>, {
      status: 200,
      headers: hot.headers,
    });
  }
  const etag = etagFor(stat);
  const headers = new Headers({
    "content-type": contentTypeFor(stat.path),
    "cache-control": cacheControlFor(stat.path),
    "accept-ranges": "bytes",
    "etag": etag,
    "last-modified": stat.modified.toUTCString(),
  });
  if (notModified(c, etag, stat.modified)) return new Response(null, { status: 304, headers });

  const ifRange = c.req.header("if-range");
  const rangeHeader = ifRange && ifRange !== etag ? null : c.req.header("range");
  const wanted = parseRange(rangeHeader, stat.size);
  if (wanted.kind === "unsatisfiable") {
    headers.set("content-range", `bytes */${stat.size}`);
    headers.delete("content-type");
    return new Response(null, { status: 416, headers });
  }
  const range = wanted.kind === "partial" ? wanted.range : { start: 0, end: stat.size - 1 };
  const status = wanted.kind === "partial" ? 206 : 200;
  const length = range.end - range.start + 1;
  if (status === 206) {
    headers.set("content-range", `bytes ${range.start}-${range.end}/${stat.size}`);
  }
  headers.set("content-length", String(length));
  if (c.req.method === "HEAD") return new Response(null, { status, headers });

  const cached = await cache.get(storage, stat, etag);
  if (cached) {
    if (status === 200) cache.rememberHeaders(stat.path, etag, headers);
    const bytes = status === 206 ? cached.slice(range.start, range.end + 1) : cached;
    return new Response(bytes as Uint8Array<ArrayBuffer>, { status, headers });
  }
  const object = await storage.read(stat.path, status === 206 ? { range } : {});
  return new Response(object.body, { status, headers });
}

/** True when the request has headers that can change the answer (validators or a Range). */
function isConditional(headers: Headers): boolean {
  return headers.has("range") || headers.has("if-none-match") || headers.has("if-modified-since");
}

function notModified(c: Context<MirrorServerEnv>, etag: string, modified: Date): boolean {
  const ifNoneMatch = c.req.header("if-none-match");
  if (ifNoneMatch !== undefined) {
    // RFC 9110 §13.1.2: weak comparison; "*" matches any current representation.
    return ifNoneMatch.split(",").map((t) => t.trim().replace(/^W\//, "")).some((t) =>
      t === etag || t === "*"
    );
  }
  const since = c.req.header("if-modified-since");
  if (since !== undefined) {
    const date = new Date(since);
    return !Number.isNaN(date.getTime()) &&
      Math.floor(modified.getTime() / 1000) <= Math.floor(date.getTime() / 1000);
  }
  return false;
}

/**
 * Keeps small files (manifests) in memory, keyed by path and validated by size and mtime on
 * every request, so a file replaced on disk is never served stale. Least recently used entries
 * go first when the total passes the budget.
 */
class SmallFileCache {
  readonly #entries = new Map<
    string,
    { etag: string; mtimeMs: number; bytes: Uint8Array; headers?: Headers }
  >();
  #total = 0;
  constructor(readonly maxFile: number, readonly maxTotal: number) {}

  /** The entry for `stat.path` if it holds that size and mtime (no I/O, no LRU update). */
  peek(stat: FileStat): { bytes: Uint8Array; headers?: Headers } | undefined {
    const hit = this.#entries.get(stat.path);
    return hit && hit.bytes.length === stat.size && hit.mtimeMs === stat.modified.getTime()
      ? hit
      : undefined;
  }

  /** Keeps the full 200 response headers of a cached file, for the fast path. */
  rememberHeaders(path: string, etag: string, headers: Headers): void {
    const hit = this.#entries.get(path);
    if (hit && hit.etag === etag && !hit.headers) hit.headers = new Headers(headers);
  }

  async get(storage: StorageReader, stat: FileStat, etag: string): Promise<Uint8Array | undefined> {
    if (stat.size > this.maxFile) return undefined;
    const hit = this.#entries.get(stat.path);
    if (hit && hit.etag === etag) {
      this.#entries.delete(stat.path);
      this.#entries.set(stat.path, hit);
      return hit.bytes;
    }
    const object = await storage.read(stat.path, { maxBytes: this.maxFile });
    const bytes = await collectBytes(object.body, { maxBytes: this.maxFile, what: stat.path });
    if (bytes.length !== stat.size) return bytes; // changed under us: serve it, do not keep it
    if (hit) this.#total -= hit.bytes.length;
    this.#entries.delete(stat.path);
    this.#entries.set(stat.path, { etag, mtimeMs: stat.modified.getTime(), bytes });
    this.#total += bytes.length;
    for (const [key, entry] of this.#entries) {
      if (this.#total <= this.maxTotal) break;
      this.#entries.delete(key);
      this.#total -= entry.bytes.length;
    }
    return bytes;
  }
}
