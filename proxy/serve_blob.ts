import { NotFoundError } from "../lib/errors.ts";
import { parseRange } from "../lib/server/parse_range.ts";
import type { FileStat } from "../lib/storage/storage.ts";
import type { ProxyState } from "./_proxy_state.ts";
import { cacheKeys } from "./cache_keys.ts";
import { mapUpstreamStatus } from "./map_upstream_status.ts";
import type { Route } from "./parse_route.ts";

/** A blob request as the handler sees it. */
export interface BlobRequest {
  method: "GET" | "HEAD";
  range: string | undefined;
}

type BlobRoute = Extract<Route, { kind: "blob" }>;

/**
 * Answers GET/HEAD of a blob. Cached blobs are served from storage with Range support (206/416).
 * A cold GET joins or starts the one shared upstream download (see BlobFetcher): bytes stream to
 * the client as they arrive and the blob is cached only once its digest is verified. A cold HEAD
 * stays a HEAD upstream. Every download is capped by the size a served manifest declared for the
 * blob, else by the cache's size limit: an endless body cannot fill the disk. A cold ranged GET
 * waits for the verified download, then serves the range from the cache, so no unverified byte is
 * ever handed out; so does a cold GET of a blob the fetcher copies into the cache file first
 * (`BlobTransfer.cacheFirst`).
 */
export async function serveBlob(
  state: ProxyState,
  route: BlobRoute,
  request: BlobRequest,
): Promise<Response> {
  const key = cacheKeys.blob(route.digest);
  const stat = await statOrUndefined(state, key);
  if (stat) {
    state.metrics.inc("ferry_proxy_cache_hits_total", { kind: "blob" });
    state.touch(key);
    return await fromCache(state, stat, route.digest, request);
  }
  state.metrics.inc("ferry_proxy_cache_misses_total", { kind: "blob" });
  const { registry, repository, digest } = route;
  const upstream = state.upstream(registry);
  const path = `/v2/${repository}/blobs/${digest}`;
  const what = `blob "${digest}" of "${repository}"`;

  if (request.method === "HEAD") {
    const response = await upstream.request({ method: "HEAD", repository, path });
    if (!response.ok) {
      throw await mapUpstreamStatus(response, { registry, what, notFound: "BLOB_UNKNOWN" });
    }
    const headers = blobHeaders(digest);
    const length = response.headers.get("content-length");
    if (length !== null) headers.set("content-length", length);
    return new Response(null, { status: 200, headers });
  }

  const transfer = await state.blobs.fetch(digest, async () => {
    const response = await upstream.request({ method: "GET", repository, path });
    if (response.status !== 200) {
      throw await mapUpstreamStatus(response, { registry, what, notFound: "BLOB_UNKNOWN" });
    }
    return response;
  }, { maxBytes: state.declaredSizes.get(route, digest) ?? state.config.cache.maxBytes });
  if (transfer.joined) state.metrics.inc("ferry_proxy_blob_downloads_joined_total");
  // A ranged GET waits for the verified download; so does any GET of a blob that goes to the
  // cache file first: both are then served from the cache (a file response: sendfile).
  const ranged = request.range !== undefined && parseRange(request.range, 1).kind !== "full";
  if (ranged || transfer.cacheFirst) {
    await transfer.body.cancel();
    await transfer.committed;
    const committed = await statOrUndefined(state, key);
    if (!committed) throw new NotFoundError(key);
    return await fromCache(state, committed, digest, request);
  }
  const headers = blobHeaders(digest);
  if (transfer.size !== undefined) headers.set("content-length", String(transfer.size));
  return new Response(transfer.body, { status: 200, headers });
}

async function fromCache(
  state: ProxyState,
  stat: FileStat,
  digest: string,
  request: BlobRequest,
): Promise<Response> {
  const headers = blobHeaders(digest);
  const wanted = parseRange(request.range, stat.size);
  if (wanted.kind === "unsatisfiable") {
    headers.set("content-range", `bytes */${stat.size}`);
    headers.set("content-length", "0");
    return new Response(null, { status: 416, headers });
  }
  const range = wanted.kind === "partial" ? wanted.range : { start: 0, end: stat.size - 1 };
  const status = wanted.kind === "partial" ? 206 : 200;
  if (status === 206) {
    headers.set("content-range", `bytes ${range.start}-${range.end}/${stat.size}`);
  }
  headers.set("content-length", String(range.end - range.start + 1));
  if (request.method === "HEAD") return new Response(null, { status, headers });
  if (stat.size === 0) return new Response(new Uint8Array(), { status, headers });
  const object = await state.storage.read(stat.path, status === 206 ? { range } : {});
  return new Response(object.body, { status, headers });
}

function blobHeaders(digest: string): Headers {
  return new Headers({
    "content-type": "application/octet-stream",
    "docker-content-digest": digest,
    "accept-ranges": "bytes",
    "etag": `"${digest}"`,
    // Content addressed by digest never changes.
    "cache-control": "max-age=31536000, immutable",
  });
}

async function statOrUndefined(state: ProxyState, key: string): Promise<FileStat | undefined> {
  try {
    return await state.storage.stat(key);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}
