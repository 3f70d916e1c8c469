import { Hono } from "hono";
import { type Clock, systemClock } from "../clock.ts";
import { DownloadError, NotFoundError, PathError, StorageError, TooLargeError } from "../errors.ts";
import { hasControlCharacter, MAX_PATH_LENGTH } from "../storage/check_path.ts";
import { collectBytes } from "../storage/read_bytes.ts";
import {
  type ByteRange,
  canPresign,
  canStatSync,
  type FileStat,
  type ReadOptions,
  type StorageReader,
  type StoredObject,
} from "../storage/storage.ts";
import { AnswerCache, type CachedFile, sameFile } from "./_answer_cache.ts";
import { SingleFlight } from "./_single_flight.ts";
import { type AccessRecord, formatAccessLine } from "./access_log.ts";
import { cacheControlFor, contentTypeFor } from "./cache_policy.ts";
import { parseRange } from "./parse_range.ts";
import { createMirrorPages } from "./pages/mirror_pages.ts";
import type { ChangeNotifier } from "./watch_directory.ts";

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
  /**
   * Announces that files under the storage may have changed ({@linkcode watchDirectory}): every
   * answer kept in memory is dropped at once.
   */
  changes?: ChangeNotifier;
  /**
   * How long an answer kept in memory is trusted without a stat, in ms: the bound on staleness
   * where change notifications do not arrive (NFS, changes made on another host). Default 1000
   * with `changes`, 0 (a stat per request) without.
   */
  revalidateMs?: number;
  /** Web pages for browsers at `/` (pages/mirror_pages.ts); default true. */
  pages?: boolean;
  /** Clock for log times and the pages' expiry warnings (tests). */
  now?: Clock;
  /** Answers `/v2/…` (the OCI pull API of an image bundle in the same directory). */
  v2?: (request: Request) => Promise<Response>;
  /**
   * Answer GETs of files at or above `minBytes` with a 307 to a presigned URL of the storage
   * (it must be able to presign: S3), valid `expiresInSeconds` (default 300), so that the bytes
   * flow from the object store. HEAD, 304 and 416 are still answered here; a Range is resent
   * by the client to the URL, which honours it. Such files are never kept in memory.
   */
  redirectLarge?: { minBytes: number; expiresInSeconds?: number; origin?: string };
  /**
   * Monotonic milliseconds for revalidation (tests); default `performance.now()`. Not a
   * {@linkcode Clock}: it only measures intervals, on every request, without making a Date.
   */
  clock?: () => number;
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
 * Small hot files (manifests) are answered from memory, headers included; large ones are
 * streamed (sendfile on Bun) with flat memory. Returns a Hono app; run it with
 * `serveHttp(app.fetch)` or test it with `app.request(path)`.
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
  const redirect = options.redirectLarge;
  if (redirect !== undefined && !canPresign(storage)) {
    throw new TypeError(`Cannot redirect to "${storage.location}": it cannot presign URLs`);
  }
  const keptFileBytes = options.memoryCacheFileBytes ?? 256 * 1024;
  const cache = new AnswerCache({
    maxFileBytes: redirect ? Math.min(keptFileBytes, redirect.minBytes - 1) : keptFileBytes,
    maxTotalBytes: options.memoryCacheTotalBytes ?? 64 * 1024 * 1024,
    revalidateMs: options.revalidateMs ?? (options.changes ? 1000 : 0),
    clock: options.clock ?? (() => performance.now()),
  });
  options.changes?.onChange(() => cache.invalidateAll());
  const statSync = canStatSync(storage) ? storage.statSync.bind(storage) : undefined;
  const now = options.now ?? systemClock;
  const onAccess = options.onAccess;
  const pages = options.pages === false ? undefined : createMirrorPages(storage, { now });
  const shared: Shared = {
    cache,
    stats: new SingleFlight(),
    fills: new SingleFlight(),
    ...(redirect && canPresign(storage)
      ? {
        redirect: {
          minBytes: redirect.minBytes,
          presign: (path: string) =>
            storage.presignGet(path, {
              expiresInSeconds: redirect.expiresInSeconds ?? 300,
              ...(redirect.origin !== undefined ? { origin: redirect.origin } : {}),
            }),
        },
      }
      : {}),
  };
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
      return await (pages?.(request, raw) ?? answer(request, raw, storage, shared, healthPath));
    } catch (error) {
      return errorResponse(error);
    }
  };
  return (request, info) => {
    const started = onAccess ? performance.now() : 0;
    const raw = rawPath(request.url);
    if (options.v2 && (raw === "/v2" || raw.startsWith("/v2/"))) {
      return options.v2(request).then((response) => log(request, raw, response, started, info));
    }
    // Hot path, with no await and, within a revalidation epoch, no system call: a GET or HEAD
    // of a small file this raw path reached before (already decoded, confined and checked
    // against the privacy rule then), unchanged since.
    const method = request.method;
    const kept = method === "GET" || method === "HEAD" ? cache.lookup(raw, statSync) : undefined;
    if (kept) return log(request, raw, answerFromMemory(request, kept), started, info);
    return slow(request, raw).then((response) => log(request, raw, response, started, info));
  };
}

/** What every request of one server shares: the memory cache and the requests under way. */
interface Shared {
  cache: AnswerCache;
  /** One stat per path at a time: concurrent revalidations of a kept file share it. */
  stats: SingleFlight<SeenStat>;
  /** One read per small file at a time: concurrent misses share it. */
  fills: SingleFlight<CachedFile | undefined>;
  redirect?: { minBytes: number; presign: (path: string) => Promise<string> };
}

/** A stat, with the cache's generation and epoch read just before it was asked for. */
interface SeenStat {
  stat: FileStat;
  generation: number;
  epoch: number;
}

async function answer(
  request: Request,
  raw: string,
  storage: StorageReader,
  shared: Shared,
  healthPath: string,
): Promise<Response> {
  const { cache } = shared;
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
  for (let attempt = 1; attempt <= 3; attempt++) {
    const seen = await shared.stats.run(path.path, async () => {
      // Read before the stat: an invalidation from here on means what is read may predate it.
      const generation = cache.generation;
      const epoch = cache.epoch();
      return { stat: await storage.stat(path.path), generation, epoch };
    }).catch((error) => {
      // Gone (deleted underneath, on a shared bucket): the mirror changed.
      if (error instanceof NotFoundError && cache.holds(path.path)) cache.invalidateAll();
      throw error;
    });
    const { stat } = seen;
    // The rule is about what is read, not what was asked for: `pubkeys -> keys` or `self -> .`
    // inside the mirror must not be a way to the private files.
    if (stat.resolvedPath !== undefined && isPrivate(stat.resolvedPath)) {
      return text("Not found\n", 404);
    }
    const response = await serveFile(request, raw, storage, seen, shared);
    if (response) return response;
  }
  return new Response("Changing too fast, try again\n", {
    status: 503,
    headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "1" },
  });
}

function text(body: string, status: number): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/** Maps a storage error to the status a mirror client should see (never 403 for missing). */
function errorResponse(error: unknown): Response {
  if (error instanceof NotFoundError) return text("Not found\n", 404);
  if (error instanceof PathError) return text("Bad path\n", 400);
  if (error instanceof TooLargeError) return text("Too large\n", 413);
  if (error instanceof DownloadError) {
    // The storage behind (an object store) did not answer: another try, or replica, may.
    return new Response("Storage unavailable, try again\n", {
      status: 503,
      headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "1" },
    });
  }
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
  // The object store's own tag where there is one: every replica over a bucket answers the same,
  // and a client redirected to a presigned URL sends a validator the store understands.
  if (stat.etag !== undefined) return stat.etag;
  // Millisecond mtime, not seconds: timestamp.json is rewritten in place, often at the same size,
  // and two publishes within one second must not share a validator (or a memory-cache entry).
  return `"${stat.size.toString(16)}-${stat.modified.getTime().toString(16)}"`;
}

/** The headers of a 200 answer with the whole file. */
function headersFor(stat: FileStat, etag: string): Headers {
  return new Headers({
    "content-type": contentTypeFor(stat.path),
    "cache-control": cacheControlFor(stat.path),
    "accept-ranges": "bytes",
    "etag": etag,
    "last-modified": stat.modified.toUTCString(),
    "content-length": String(stat.size),
  });
}

/** What a request asks of a file: a complete answer without a body, or bytes to send. */
type Plan =
  | { kind: "done"; response: Response }
  | { kind: "body"; status: 200 | 206; range: ByteRange; headers: Headers };

/**
 * Validators (304), If-Range and Range (206/416) and HEAD, applied to a file's 200 headers
 * (`full`, never modified: a cached answer shares them).
 */
function planAnswer(request: Request, stat: FileStat, etag: string, full: Headers): Plan {
  const requestHeaders = request.headers;
  if (notModified(requestHeaders, etag, stat.modified)) {
    const headers = new Headers(full);
    headers.delete("content-length");
    return { kind: "done", response: new Response(null, { status: 304, headers }) };
  }
  const ifRange = requestHeaders.get("if-range");
  const rangeHeader = ifRange && ifRange !== etag ? null : requestHeaders.get("range");
  const wanted = parseRange(rangeHeader, stat.size);
  if (wanted.kind === "unsatisfiable") {
    const headers = new Headers(full);
    headers.set("content-range", `bytes */${stat.size}`);
    headers.delete("content-type");
    headers.delete("content-length");
    return { kind: "done", response: new Response(null, { status: 416, headers }) };
  }
  let headers = full;
  let status: 200 | 206 = 200;
  let range = { start: 0, end: stat.size - 1 };
  if (wanted.kind === "partial") {
    range = wanted.range;
    status = 206;
    headers = new Headers(full);
    headers.set("content-range", `bytes ${range.start}-${range.end}/${stat.size}`);
    headers.set("content-length", String(range.end - range.start + 1));
  }
  if (request.method === "HEAD") {
    return { kind: "done", response: new Response(null, { status, headers }) };
  }
  return { kind: "body", status, range, headers };
}

/** The answer for a file kept in memory: synchronous, no I/O. */
function answerFromMemory(request: Request, file: CachedFile): Response {
  if (request.method === "GET" && !isConditional(request.headers)) {
    return new Response(file.bytes, { status: 200, headers: file.headers });
  }
  const plan = planAnswer(request, file.stat, file.etag, file.headers);
  if (plan.kind === "done") return plan.response;
  const { start, end } = plan.range;
  const bytes = plan.status === 206 ? file.bytes.slice(start, end + 1) : file.bytes;
  return new Response(bytes, { status: plan.status, headers: plan.headers });
}

/**
 * Answers from the file `stat` describes (the privacy rule already passed), keeping small ones
 * in memory. Undefined when the file changed while it was read: the caller stats again.
 */
async function serveFile(
  request: Request,
  raw: string,
  storage: StorageReader,
  seen: SeenStat,
  shared: Shared,
): Promise<Response | undefined> {
  const { cache } = shared;
  const { stat } = seen;
  const kept = cache.match(raw, stat, seen);
  if (kept) return answerFromMemory(request, kept);
  const etag = etagFor(stat);
  const headers = headersFor(stat, etag);
  const plan = planAnswer(request, stat, etag, headers);
  if (plan.kind === "done") return plan.response;
  const redirect = shared.redirect;
  if (redirect !== undefined && stat.size >= redirect.minBytes) {
    return new Response(null, {
      status: 307,
      // The URL expires soon: no cache on the way may keep the redirect.
      headers: { "location": await redirect.presign(stat.path), "cache-control": "no-store" },
    });
  }
  if (stat.size > cache.maxFileBytes) {
    const ranged = plan.status === 206 ? { range: plan.range } : {};
    const object = await readAsChecked(storage, stat, ranged);
    // Replaced between the stat and the read (a publish on a shared bucket): these headers
    // describe other bytes. The caller stats again.
    if (!sameFile(object.stat, stat)) {
      if (object.body instanceof ReadableStream) await object.body.cancel();
      return undefined;
    }
    return new Response(object.body, { status: plan.status, headers: plan.headers });
  }
  const key = `${stat.path}\0${stat.size}\0${stat.modified.getTime()}\0${stat.identity ?? ""}`;
  const file = await shared.fills.run(key, () => fill(storage, seen, { cache, etag, headers }));
  if (file === undefined) return undefined;
  cache.keep(raw, file, seen.generation);
  return answerFromMemory(request, file);
}

/** Reads a small file into memory; undefined when it changed while read. */
async function fill(
  storage: StorageReader,
  { stat, epoch }: SeenStat,
  { cache, etag, headers }: { cache: AnswerCache; etag: string; headers: Headers },
): Promise<CachedFile | undefined> {
  const object = await readAsChecked(storage, stat, { maxBytes: cache.maxFileBytes });
  const bytes = await collectBytes(object.body, { maxBytes: cache.maxFileBytes, what: stat.path });
  // The read's own stat saw the file the headers describe, and it is still there after the last
  // byte: otherwise it was replaced while read, and neither served nor kept.
  if (bytes.length !== stat.size || !sameFile(object.stat, stat)) return undefined;
  if (!sameFile(await storage.stat(stat.path), stat)) return undefined;
  return {
    stat,
    etag,
    bytes: bytes as Uint8Array<ArrayBuffer>,
    headers,
    epoch,
    evicted: false,
  };
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
