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
import { checkManifest, NotAManifestError } from "./check_manifest.ts";
import { type AcceptClass, acceptClass, bareType } from "./accept_class.ts";

/** A manifest request as the handler sees it. */
export interface ManifestRequest {
  method: "GET" | "HEAD";
  /** The client's Accept header, forwarded verbatim. */
  accept: string | undefined;
}

type ManifestRoute = Extract<Route, { kind: "manifest" }>;

/**
 * Answers GET/HEAD of a manifest. By digest: from the cache forever, else fetched, verified
 * against the digest and cached. By tag, per Accept class (see acceptClass): a cached answer
 * younger than the tag TTL is served as is; an older one is revalidated with a HEAD (free on
 * Docker Hub) and served stale when the upstream errors, times out, answers 429/5xx, sends
 * something that is not a manifest, or cannot be reached; a cold tag is one upstream GET, also
 * for a HEAD (containerd resolves tags with HEAD, and the tag must be cached for when the
 * upstream is gone). Concurrent cold requests for one tag and class share one upstream fetch.
 * Only a body that is a manifest of a type the client accepted is cached (see checkManifest).
 * Bytes are never re-serialized: what the upstream sent is what clients get, and the
 * Docker-Content-Digest header is the sha256 of exactly those bytes.
 */
export async function serveManifest(
  state: ProxyState,
  route: ManifestRoute,
  request: ManifestRequest,
): Promise<Response> {
  if (isDigest(route.reference)) return await serveByDigest(state, route, request);

  const { registry, repository, reference: tag } = route;
  const accepted = acceptClass(request.accept);
  const record = await state.manifests.getTag(registry, repository, tag, accepted);
  if (record && state.now().getTime() - record.checkedAt < state.config.cache.tagTtlMs) {
    const cached = await state.manifests.get(record.digest);
    if (cached) {
      state.metrics.inc("ferry_proxy_cache_hits_total", { kind: "tag" });
      state.touch(cacheKeys.manifest(cached.digest));
      return answer(state, route, cached, request.method);
    }
  }
  state.metrics.inc("ferry_proxy_cache_misses_total", { kind: "tag" });
  const { result } = state.manifestFetches.run(
    `tag ${registry}/${repository}:${tag} ${accepted.canonical}`,
    () => fetchTag(state, route, request.accept, accepted, record),
  );
  try {
    return answer(state, route, await result, request.method);
  } catch (error) {
    if (record && error instanceof UpstreamUnavailableError) {
      return await serveStale(state, route, record, request, error.message);
    }
    if (error instanceof NoUsableAnswerError) {
      if (record) return await serveStale(state, route, record, request, error.reason);
      throw error.answer;
    }
    throw error;
  }
}

/** The upstream answered, but not with something to serve; a cached answer is better. */
class NoUsableAnswerError extends Error {
  constructor(readonly reason: string, readonly answer: OciError) {
    super(answer.message);
  }
}

/** Asks the upstream what `tag` is for clients of class `accepted`, and caches the answer. */
async function fetchTag(
  state: ProxyState,
  route: ManifestRoute,
  accept: string | undefined,
  accepted: AcceptClass,
  record: TagRecord | undefined,
): Promise<CachedManifest> {
  const { registry, repository, reference: tag } = route;
  const upstream = state.upstream(registry);
  const path = `/v2/${repository}/manifests/${tag}`;
  const headers: Record<string, string> = accept ? { accept } : {};
  const what = `manifest "${repository}:${tag}"`;
  const remember = (manifest: CachedManifest, isNew: boolean) => {
    const checkedAt = state.now().getTime();
    // The client is answered first; writing the cache (fsynced writes) is not its business.
    state.background(`cache ${what}`, async () => {
      if (isNew) await state.manifests.put(manifest);
      await state.manifests.putTag(registry, repository, tag, {
        digest: manifest.digest,
        mediaType: bareType(manifest.mediaType),
        size: manifest.bytes.length,
        checkedAt,
      }, accepted);
      state.touch(cacheKeys.manifest(manifest.digest));
      if (isNew) state.grew();
    });
  };

  if (record) {
    // Revalidate: HEAD is not counted by Docker Hub's pull limit (harbor #13112).
    const head = await upstream.request({
      method: "HEAD",
      repository,
      path,
      headers,
      deadlineMs: state.config.upstream.revalidateTimeoutMs,
    });
    if (head.ok) {
      const digest = head.headers.get("docker-content-digest") ?? "";
      const cached = isDigest(digest) ? await state.manifests.get(digest) : undefined;
      if (cached && accepted.types.has(bareType(cached.mediaType))) {
        remember(cached, false);
        return cached;
      }
    } else if (isStaleStatus(head.status)) {
      const answer = await mapUpstreamStatus(head, {
        registry,
        what,
        notFound: "MANIFEST_UNKNOWN",
      });
      throw new NoUsableAnswerError(`the upstream answered ${head.status}`, answer);
    } else if (head.status === 404) {
      await state.manifests.deleteTag(registry, repository, tag);
      throw await mapUpstreamStatus(head, { registry, what, notFound: "MANIFEST_UNKNOWN" });
    }
    await head.body?.cancel().catch(() => {});
  }

  // With a cached answer to fall back on, a slow upstream must not hold the client up either.
  const deadline = record ? { deadlineMs: state.config.upstream.revalidateTimeoutMs } : {};
  const response = await upstream.request({
    method: "GET",
    repository,
    path,
    headers,
    ...deadline,
  });
  if (!response.ok) {
    const answer = await mapUpstreamStatus(response, {
      registry,
      what,
      notFound: "MANIFEST_UNKNOWN",
    });
    if (isStaleStatus(response.status)) {
      throw new NoUsableAnswerError(`the upstream answered ${response.status}`, answer);
    }
    throw answer;
  }
  const { contentType, ...manifest } = await readManifest(response, registry, what);
  try {
    manifest.mediaType = checkManifest(manifest.bytes, contentType, accepted);
  } catch (error) {
    if (!(error instanceof NotAManifestError)) throw error;
    const problem = `sent ${what} that is not a manifest: ${error.message}`;
    throw new NoUsableAnswerError(
      `the upstream ${problem}`,
      new OciError(502, "MANIFEST_INVALID", `Registry "${registry}" ${problem}; not cached`),
    );
  }
  const announced = response.headers.get("docker-content-digest");
  if (announced && isDigest(announced) && digestOf(manifest.bytes, announced) !== announced) {
    throw new OciError(
      502,
      "DIGEST_INVALID",
      `Registry "${registry}" sent ${what} whose bytes do not match its Docker-Content-Digest`,
    );
  }
  remember(manifest, true);
  return manifest;
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
    return answer(state, route, cached, request.method);
  }
  state.metrics.inc("ferry_proxy_cache_misses_total", { kind: "manifest" });
  const { registry, repository } = route;
  const what = `manifest "${repository}@${digest}"`;
  const upstream = state.upstream(registry);
  const path = `/v2/${repository}/manifests/${digest}`;
  const headers: Record<string, string> = request.accept ? { accept: request.accept } : {};
  if (request.method === "HEAD") {
    const response = await upstream.request({ method: "HEAD", repository, path, headers });
    if (!response.ok) {
      throw await mapUpstreamStatus(response, { registry, what, notFound: "MANIFEST_UNKNOWN" });
    }
    const answer = headFromUpstream(response);
    answer.headers.set("docker-content-digest", digest);
    return answer;
  }
  const { result } = state.manifestFetches.run(
    `digest ${registry}/${repository}@${digest}`,
    async () => {
      const response = await upstream.request({ method: "GET", repository, path, headers });
      if (!response.ok) {
        throw await mapUpstreamStatus(response, { registry, what, notFound: "MANIFEST_UNKNOWN" });
      }
      const manifest = await readManifest(response, registry, what);
      if (digestOf(manifest.bytes, digest) !== digest) {
        throw new OciError(
          502,
          "DIGEST_INVALID",
          `Registry "${registry}" sent bytes for ${what} that do not match that digest; not cached`,
        );
      }
      const verified = { digest, mediaType: manifest.mediaType, bytes: manifest.bytes };
      state.background(`cache ${what}`, async () => {
        await state.manifests.put(verified);
        state.touch(cacheKeys.manifest(digest));
        state.grew();
      });
      return verified;
    },
  );
  return answer(state, route, await result, "GET");
}

async function serveStale(
  state: ProxyState,
  route: ManifestRoute,
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
  const response = answer(state, route, cached, request.method);
  // RFC 9111 §5.5 (obsoleted but still understood): 110 Response is Stale.
  response.headers.set("warning", '110 - "Response is Stale"');
  return response;
}

/** The body (capped) and, as the media type, the Content-Type or else the body's own field. */
async function readManifest(
  response: Response,
  registry: string,
  what: string,
): Promise<CachedManifest & { contentType: string | null }> {
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
  const contentType = response.headers.get("content-type");
  return {
    digest: digestOf(bytes),
    mediaType: contentType ?? mediaTypeOf(bytes),
    bytes,
    contentType,
  };
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

/** The answer for `manifest`; the blob sizes it declares are noted to cap their downloads. */
function answer(
  state: ProxyState,
  route: ManifestRoute,
  manifest: CachedManifest,
  method: "GET" | "HEAD",
): Response {
  state.declaredSizes.note(route, manifest.digest, manifest.bytes);
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
