import { Hono } from "hono";
import { NotFoundError, PathError, StorageError, TooLargeError } from "../errors.ts";
import { hasControlCharacter, MAX_PATH_LENGTH } from "../storage/check_path.ts";
import { collectBytes } from "../storage/read_bytes.ts";
import type { FileStat, ReadOptions, StorageReader, StoredObject } from "../storage/storage.ts";
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
 * mirror (`..`, encoded or not, NUL, backslashes, over-long) get 400 and never reach storage
 * (Bun's server resolves raw dot segments before any handler sees them), and the mirror's
 * private `keys/` directory, its lock and dotfiles are never served, whatever symlink leads there.
 *
 * Small hot files (manifests) are answered from memory; large ones are streamed (sendfile on Bun)
 * with flat memory. Returns a Hono app; run it with `serveHttp(app.fetch)` or test it with
 * `app.request(path)`.
 */
export function createMirrorServer(storage: StorageReader, options: MirrorServerOptions = {}) {
  // Every route below is "*" and reads the raw path itself (rawPath), so Hono need not parse
  // the URL for routing: a constant path saves that work on every request.
  const app = new Hono<MirrorServerEnv>({ getPath: () => "/" });
  const handler = createMirrorHandler(storage, options);
  app.all("*", (c) => handler(c.req.raw, { remoteAddress: c.env?.remoteAddress ?? "-" }));
  return app;
}

/**
 * The same server as {@linkcode createMirrorServer} as a plain fetch handler, without Hono's
 * per-request context: what `ferry mirror serve` runs, since on a busy mirror that context cost
 * more than the file lookup itself.
 */
export function createMirrorHandler(
  storage: StorageReader,
  options: MirrorServerOptions = {},
): (request: Request, info?: { remoteAddress?: string }) => Response | Promise<Response> {
  const healthPath = options.healthPath ?? "/_ferry/health";
  const cache = new SmallFileCache(
    options.memoryCacheFileBytes ?? 256 * 1024,
    options.memoryCacheTotalBytes ?? 64 * 1024 * 1024,
  );
  const now = options.now ?? (() => new Date());
  const onAccess = options.onAccess;
  const log = (
    request: Request,
    raw: string,
    response: Response,
    started: number,
    info: { remoteAddress?: string } | undefined,
  ) => {
    if (!onAccess) return response;
    const record: AccessRecord = {
      remoteAddress: info?.remoteAddress ?? "-",
      method: request.method,
      path: raw,
      status: response.status,
      bytes: Number(response.headers.get("content-length") ?? 0),
      durationMs: performance.now() - started,
      userAgent: request.headers.get("user-agent") ?? "-",
      time: now(),
    };
    onAccess(formatAccessLine(record), record);
    return response;
  };
  const slow = async (request: Request, raw: string) => {
    try {
      return await answer(request, raw, storage, cache, healthPath);
    } catch (error) {
      return errorResponse(error);
    }
  };
  return (request, info) => {
    const started = onAccess ? performance.now() : 0;
    const raw = rawPath(request.url);
    // Hot path, with no await: a plain GET of a small file already in memory whose size and
    // mtime are unchanged (a synchronous stat, which also re-applies the path confinement).
    const hot = request.method === "GET" && storage.statSync
      ? cache.hot(raw, storage.statSync.bind(storage), request.headers)
      : undefined;
    if (hot) return log(request, raw, hot, started, info);
    return slow(request, raw).then((response) => log(request, raw, response, started, info));
  };
}

async function answer(
  request: Request,
  raw: string,
  storage: StorageReader,
  cache: SmallFileCache,
  healthPath: string,
): Promise<Response> {
  const method = request.method;
  if (method !== "GET" && method !== "HEAD") {
    return new Response("Method not allowed: this mirror is read-only\n", {
      status: 405,
      headers: { "allow": "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
    });
  }
  if (raw === healthPath) return Response.json({ status: "ok" });
  const path = mirrorPath(raw);
  if (path.kind === "error") return text(`${path.message}\n`, path.status);
  if (path.kind === "index") {
    const installer = await storage.stat("install.sh").then(() => true, () => false);
    return text(indexText(request.url, installer), 200);
  }
  if (isPrivate(path.path)) return text("Not found\n", 404);
  const stat = await storage.stat(path.path);
  // The rule is about what is read, not what was asked for: `pubkeys -> keys` or `self -> .`
  // inside the mirror must not be a way to the private files.
  if (stat.resolvedPath !== undefined && isPrivate(stat.resolvedPath)) {
    return text("Not found\n", 404);
  }
  return await serveFile(request, raw, storage, stat, cache);
}

function text(body: string, status: number): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/** Maps a storage error to the status a mirror client should see (never 403 for missing). */
function errorResponse(error: unknown): Response {
  if (error instanceof NotFoundError) return text("Not found\n", 404);
  if (error instanceof PathError) return text("Bad path\n", 400);
  if (error instanceof TooLargeError) return text("Too large\n", 413);
  if (error instanceof StorageError) return text("Storage error\n", 500);
  return text("Internal error\n", 500);
}

type MirrorPath =
  | { kind: "file"; path: string }
  | { kind: "index" }
  | { kind: "error"; status: 400 | 404 | 414; message: string };

function rawPath(url: string): string {
  // new URL() normalizes "/a/../b" away; read the path as the client sent it instead. Bun
  // passes a request without a Host header (HTTP/1.0) as a bare "/path": no scheme to skip.
  let pathStart = 0;
  if (url.charCodeAt(0) !== 0x2f) {
    const afterScheme = url.indexOf("//");
    pathStart = afterScheme === -1 ? -1 : url.indexOf("/", afterScheme + 2);
    if (pathStart === -1) return "/";
  }
  const end = url.indexOf("?", pathStart);
  const hash = url.indexOf("#", pathStart);
  const stop = end === -1 ? hash : hash === -1 ? end : Math.min(end, hash);
  return stop === -1 ? url.slice(pathStart) : url.slice(pathStart, stop);
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

/**
 * Never served: private keys, the writer's lock, temp files and other dotfiles. Applied to the
 * requested path and to the path it resolves to through links.
 */
function isPrivate(path: string): boolean {
  return path === "keys" || path.startsWith("keys/") || path === "lock" ||
    path.split("/").some((segment) => segment.startsWith("."));
}

function indexText(url: string, installer: boolean): string {
  const base = url.replace(/[?#].*$/, "").replace(/\/+$/, "");
  return [
    "This is a TiUP-compatible mirror served by ferry.",
    "",
    `Use it:   ferry mirror set ${base}     (or: tiup mirror set ${base})`,
    ...(installer ? [`Install:  curl -fsSL ${base}/install.sh | FERRY_MIRROR=${base} sh`] : []),
    "",
  ].join("\n");
}

function etagFor(stat: FileStat): string {
  // Millisecond mtime, not seconds: timestamp.json is rewritten in place, often at the same size,
  // and two publishes within one second must not share a validator (or a memory-cache entry).
  return `"${stat.size.toString(16)}-${stat.modified.getTime().toString(16)}"`;
}

async function serveFile(
  request: Request,
  raw: string,
  storage: StorageReader,
  stat: FileStat,
  cache: SmallFileCache,
): Promise<Response> {
  // Fast path for the common case: a plain GET of a hot small file (a manifest). Its headers
  // were built once, when it entered the cache; an unchanged size and mtime (what the ETag is
  // made of) prove the file is unchanged.
  const hot = cache.peek(stat);
  const requestHeaders = request.headers;
  if (hot?.headers && request.method === "GET" && !isConditional(requestHeaders)) {
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
  if (notModified(requestHeaders, etag, stat.modified)) {
    return new Response(null, { status: 304, headers });
  }

  const ifRange = requestHeaders.get("if-range");
  const rangeHeader = ifRange && ifRange !== etag ? null : requestHeaders.get("range");
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
  if (request.method === "HEAD") return new Response(null, { status, headers });

  const cached = await cache.get(storage, stat, etag);
  if (cached) {
    if (status === 200) cache.rememberHeaders(raw, stat.path, etag, headers);
    const bytes = status === 206 ? cached.slice(range.start, range.end + 1) : cached;
    return new Response(bytes as Uint8Array<ArrayBuffer>, { status, headers });
  }
  const object = await readAsChecked(storage, stat, status === 206 ? { range } : {});
  return new Response(object.body, { status, headers });
}

/**
 * Reads the file `stat` describes, and only if it still resolves where it did when the privacy
 * rule was applied: a link swapped in between reads as missing, never as a private file.
 */
async function readAsChecked(
  storage: StorageReader,
  stat: FileStat,
  options: ReadOptions,
): Promise<StoredObject> {
  const object = await storage.read(stat.path, options);
  if (object.stat.resolvedPath !== stat.resolvedPath) {
    if (object.body instanceof ReadableStream) await object.body.cancel();
    throw new NotFoundError(stat.path);
  }
  return object;
}

/** True when the request has headers that can change the answer (validators or a Range). */
function isConditional(headers: Headers): boolean {
  return headers.has("range") || headers.has("if-none-match") || headers.has("if-modified-since");
}

function notModified(requestHeaders: Headers, etag: string, modified: Date): boolean {
  const ifNoneMatch = requestHeaders.get("if-none-match") ?? undefined;
  if (ifNoneMatch !== undefined) {
    // RFC 9110 §13.1.2: weak comparison; "*" matches any current representation.
    return ifNoneMatch.split(",").map((t) => t.trim().replace(/^W\//, "")).some((t) =>
      t === etag || t === "*"
    );
  }
  const since = requestHeaders.get("if-modified-since") ?? undefined;
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
    {
      etag: string;
      mtimeMs: number;
      bytes: Uint8Array;
      headers?: Headers;
      /** Where the file was found when filled (checked public then): a change means re-check. */
      resolvedPath: string | undefined;
    }
  >();
  readonly #byRaw = new Map<string, string>();
  #total = 0;
  constructor(readonly maxFile: number, readonly maxTotal: number) {}

  /**
   * The entry for `stat.path` if it holds that size and mtime and the path still resolves where
   * it did (no I/O, no LRU update).
   */
  peek(stat: FileStat): { bytes: Uint8Array; headers?: Headers } | undefined {
    const hit = this.#entries.get(stat.path);
    return hit && hit.bytes.length === stat.size && hit.mtimeMs === stat.modified.getTime() &&
        hit.resolvedPath === stat.resolvedPath
      ? hit
      : undefined;
  }

  /**
   * Keeps the full 200 response headers of a cached file, and the raw request path that reached
   * it (already checked: decoded, confined, not private), for the hot path.
   */
  rememberHeaders(raw: string, path: string, etag: string, headers: Headers): void {
    const hit = this.#entries.get(path);
    if (hit && hit.etag === etag && !hit.headers) hit.headers = new Headers(headers);
    if (this.#byRaw.size > 4096) this.#byRaw.clear();
    this.#byRaw.set(raw, path);
  }

  /**
   * The 200 answer for a raw request path when its file is in memory, unchanged (size and mtime
   * from `statSync`) and the request has no validators or Range; undefined otherwise. Any stat
   * failure (gone, now a symlink out of the root) falls back to the full path, which decides.
   */
  hot(raw: string, statSync: (path: string) => FileStat, headers: Headers): Response | undefined {
    const path = this.#byRaw.get(raw);
    if (path === undefined || isConditional(headers)) return undefined;
    let stat: FileStat;
    try {
      stat = statSync(path);
    } catch {
      return undefined;
    }
    const hit = this.peek(stat);
    if (!hit?.headers) return undefined;
    return new Response(hit.bytes as Uint8Array<ArrayBuffer>, {
      status: 200,
      headers: hit.headers,
    });
  }

  async get(storage: StorageReader, stat: FileStat, etag: string): Promise<Uint8Array | undefined> {
    if (stat.size > this.maxFile) return undefined;
    const hit = this.#entries.get(stat.path);
    if (hit && hit.etag === etag && hit.resolvedPath === stat.resolvedPath) {
      this.#entries.delete(stat.path);
      this.#entries.set(stat.path, hit);
      return hit.bytes;
    }
    const object = await readAsChecked(storage, stat, { maxBytes: this.maxFile });
    const bytes = await collectBytes(object.body, { maxBytes: this.maxFile, what: stat.path });
    if (bytes.length !== stat.size) return bytes; // changed under us: serve it, do not keep it
    if (hit) this.#total -= hit.bytes.length;
    this.#entries.delete(stat.path);
    this.#entries.set(stat.path, {
      etag,
      mtimeMs: stat.modified.getTime(),
      bytes,
      resolvedPath: stat.resolvedPath,
    });
    this.#total += bytes.length;
    for (const [key, entry] of this.#entries) {
      if (this.#total <= this.maxTotal) break;
      this.#entries.delete(key);
      this.#total -= entry.bytes.length;
    }
    return bytes;
  }
}
