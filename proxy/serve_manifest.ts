import { collectBytes } from "../lib/storage/read_bytes.ts";
import { TooLargeError } from "../lib/errors.ts";
import type { ProxyState } from "./_proxy_state.ts";
import { cacheKeys } from "./cache_keys.ts";
import { digestOf } from "./digest_of.ts";
import { type CachedManifest, MAX_MANIFEST_BYTES, type TagRecord } from "./manifest_cache.ts";
import { mapUpstreamStatus } from "./map_upstream_status.ts";
import { OciError } from "./oci_error.ts";
import { isDigest, type Route } from "./parse_route.ts";
import { isStaleStatus, UpstreamUnavailableError } from "./upstream_error.ts";

/** A manifest request as the handler sees it. */
export interface ManifestRequest {
  method: "GET" | "HEAD";
  /** The client's Accept header, forwarded verbatim. */
  accept: string | undefined;
}

type ManifestRoute = Extract<Route, { kind: "manifest" }>;

/**
 * Answers GET/HEAD of a manifest. By digest: from the cache forever, else fetched, verified
 * against the digest and cached. By tag: a cached answer younger than the tag TTL is served as
 * is; an older one is revalidated with a HEAD (free on Docker Hub) and served stale when the
 * upstream errors, times out, answers 429/5xx or cannot be reached; a cold tag is one upstream
 * GET. Bytes are never re-serialized: what the upstream sent is what clients get, and the
 * Docker-Content-Digest header is the sha256 of exactly those bytes.
 */
export async function serveManifest(
  state: ProxyState,
  route: ManifestRoute,
  request: ManifestRequest,
): Promise<Response> {
  const acceptList = parseAccept(request.accept);
  if (isDigest(route.reference)) return await serveByDigest(state, route, request);

  const { registry, repository, reference: tag } = route;
  const record = await state.manifests.getTag(registry, repository, tag, acceptList);
  if (record && state.now() - record.checkedAt < state.config.cache.tagTtlMs) {
    const cached = await state.manifests.get(record.digest);
    if (cached) {
      state.metrics.inc("ferry_proxy_cache_hits_total", { kind: "tag" });
      state.touch(cacheKeys.manifest(cached.digest));
      return manifestResponse(cached, request.method);
    }
  }
  state.metrics.inc("ferry_proxy_cache_misses_total", { kind: "tag" });
  const upstream = state.upstream(registry);
  const path = `/v2/${repository}/manifests/${tag}`;
  const headers: Record<string, string> = request.accept ? { accept: request.accept } : {};
  const what = `manifest "${repository}:${tag}"`;

  if (record) {
    // Revalidate: HEAD is not counted by Docker Hub's pull limit (harbor #13112).
    let head: Response;
    try {
      head = await upstream.request({
        method: "HEAD",
        repository,
        path,
        headers,
        deadlineMs: state.config.upstream.revalidateTimeoutMs,
      });
    } catch (error) {
      if (error instanceof UpstreamUnavailableError) {
        return await serveStale(state, record, request, error.message);
      }
      throw error;
    }
    if (head.ok) {
      const digest = head.headers.get("docker-content-digest") ?? "";
      if (isDigest(digest)) {
        const cached = await state.manifests.get(digest);
        if (cached) {
          await state.manifests.putTag(registry, repository, tag, {
            digest,
            mediaType: bareType(cached.mediaType),
            size: cached.bytes.length,
            checkedAt: state.now(),
          }, acceptList);
          return manifestResponse(cached, request.method);
        }
      }
    } else if (isStaleStatus(head.status)) {
      return await serveStale(state, record, request, `the upstream answered ${head.status}`);
    } else if (head.status === 404) {
      await state.manifests.deleteTag(registry, repository, tag);
      throw await mapUpstreamStatus(head, { registry, what, notFound: "MANIFEST_UNKNOWN" });
    }
  }

  let response: Response;
  try {
    response = await upstream.request({ method: request.method, repository, path, headers });
  } catch (error) {
    if (record && error instanceof UpstreamUnavailableError) {
      return await serveStale(state, record, request, error.message);
    }
    throw error;
  }
  if (!response.ok) {
    if (record && isStaleStatus(response.status)) {
      await response.body?.cancel().catch(() => {});
      return await serveStale(state, record, request, `the upstream answered ${response.status}`);
    }
    throw await mapUpstreamStatus(response, { registry, what, notFound: "MANIFEST_UNKNOWN" });
  }
  if (request.method === "HEAD") return headFromUpstream(response);

  const manifest = await readManifest(response, registry, what);
  const announced = response.headers.get("docker-content-digest");
  if (announced && isDigest(announced) && digestOf(manifest.bytes, announced) !== announced) {
    throw new OciError(
      502,
      "DIGEST_INVALID",
      `Registry "${registry}" sent ${what} whose bytes do not match its Docker-Content-Digest`,
    );
  }
  // The client is answered first; writing the cache (two fsynced writes) is not its business.
  const checkedAt = state.now();
  state.background(`cache ${what}`, async () => {
    await state.manifests.put(manifest);
    await state.manifests.putTag(registry, repository, tag, {
      digest: manifest.digest,
      mediaType: bareType(manifest.mediaType),
      size: manifest.bytes.length,
      checkedAt,
    }, acceptList);
    state.touch(cacheKeys.manifest(manifest.digest));
    state.grew();
  });
  return manifestResponse(manifest, "GET");
}

async function serveByDigest(
  state: ProxyState,
  route: ManifestRoute,
  request: ManifestRequest,
): Promise<Response> {
  const digest = route.reference;
  const cached = await state.manifests.get(digest);
  if (cached) {
    state.metrics.inc("ferry_proxy_cache_hits_total", { kind: "manifest" });
    state.touch(cacheKeys.manifest(digest));
    return manifestResponse(cached, request.method);
  }
  state.metrics.inc("ferry_proxy_cache_misses_total", { kind: "manifest" });
  const { registry, repository } = route;
  const what = `manifest "${repository}@${digest}"`;
  const response = await state.upstream(registry).request({
    method: request.method,
    repository,
    path: `/v2/${repository}/manifests/${digest}`,
    headers: request.accept ? { accept: request.accept } : {},
  });
  if (!response.ok) {
    throw await mapUpstreamStatus(response, { registry, what, notFound: "MANIFEST_UNKNOWN" });
  }
  if (request.method === "HEAD") {
    const answer = headFromUpstream(response);
    answer.headers.set("docker-content-digest", digest);
    return answer;
  }
  const manifest = await readManifest(response, registry, what);
  if (digestOf(manifest.bytes, digest) !== digest) {
    throw new OciError(
      502,
      "DIGEST_INVALID",
      `Registry "${registry}" sent bytes for ${what} that do not match that digest; not cached`,
    );
  }
  const verified = { ...manifest, digest };
  state.background(`cache ${what}`, async () => {
    await state.manifests.put(verified);
    state.touch(cacheKeys.manifest(digest));
    state.grew();
  });
  return manifestResponse(verified, "GET");
}

async function serveStale(
  state: ProxyState,
  record: TagRecord,
  request: ManifestRequest,
  reason: string,
): Promise<Response> {
  const cached = await state.manifests.get(record.digest);
  if (!cached) {
    throw new OciError(502, "UNKNOWN", `Cannot revalidate the tag: ${reason}; nothing cached`);
  }
  state.metrics.inc("ferry_proxy_stale_served_total");
  state.log(`Serving a cached tag answer (${record.digest}) because ${reason}`);
  state.touch(cacheKeys.manifest(cached.digest));
  const response = manifestResponse(cached, request.method);
  // RFC 9111 §5.5 (obsoleted but still understood): 110 Response is Stale.
  response.headers.set("warning", '110 - "Response is Stale"');
  return response;
}

async function readManifest(
  response: Response,
  registry: string,
  what: string,
): Promise<CachedManifest> {
  let bytes: Uint8Array;
  try {
    bytes = response.body
      ? await collectBytes(response.body, { maxBytes: MAX_MANIFEST_BYTES, what })
      : new Uint8Array();
  } catch (error) {
    if (error instanceof TooLargeError) {
      throw new OciError(
        502,
        "MANIFEST_INVALID",
        `Registry "${registry}" sent ${what} larger than ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    throw error;
  }
  const mediaType = response.headers.get("content-type") ?? mediaTypeOf(bytes);
  return { digest: digestOf(bytes), mediaType, bytes };
}

/** The manifest's own mediaType field, for upstreams that send no Content-Type. */
function mediaTypeOf(bytes: Uint8Array): string {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof parsed?.mediaType === "string") return parsed.mediaType;
  } catch {
    // not JSON
  }
  return "application/octet-stream";
}

function manifestResponse(manifest: CachedManifest, method: "GET" | "HEAD"): Response {
  const headers = new Headers({
    "content-type": manifest.mediaType,
    "content-length": String(manifest.bytes.length),
    "docker-content-digest": manifest.digest,
    "etag": `"${manifest.digest}"`,
  });
  return new Response(
    method === "HEAD" ? null : (manifest.bytes as Uint8Array<ArrayBuffer>),
    { status: 200, headers },
  );
}

function headFromUpstream(response: Response): Response {
  const headers = new Headers();
  for (const name of ["content-type", "content-length", "docker-content-digest", "etag"]) {
    const value = response.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  return new Response(null, { status: 200, headers });
}

/** The media types of an Accept header, parameters dropped, lower-cased, in order. */
export function parseAccept(header: string | undefined): string[] {
  if (!header) return [];
  return header.split(",").map((part) => bareType(part)).filter((t) => t !== "");
}

function bareType(value: string): string {
  return (value.split(";")[0] ?? "").trim().toLowerCase();
}
