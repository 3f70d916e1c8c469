import { NotFoundError } from "../lib/errors.ts";
import { collectBytes } from "../lib/storage/read_bytes.ts";
import type { ProxyState } from "./_proxy_state.ts";
import { cacheKeys } from "./cache_keys.ts";
import { mapUpstreamStatus } from "./map_upstream_status.ts";
import type { Route } from "./parse_route.ts";
import { isStaleStatus, UpstreamUnavailableError } from "./upstream_error.ts";

const MAX_LISTING_BYTES = 4 * 1024 * 1024;

type ListingRoute = Extract<Route, { kind: "tags" | "referrers" }>;

/**
 * Answers `tags/list` and `referrers/<digest>` by asking the upstream. The last full (unpaginated)
 * tags/list answer is kept, and served with a Warning when the upstream is unreachable or failing,
 * so `skopeo list-tags` keeps working in the air-gap case; referrers are not kept. Pagination (`n`, `last`) and `artifactType` are passed on; a `Link` header is rewritten
 * so the next page goes through the proxy under the name the client used (crproxy does the same).
 * A registry without the referrers API answers 404, which tells clients to fall back to the
 * `sha256-<hex>` tag schema (OCI distribution spec, "Listing Referrers").
 */
export async function serveListing(
  state: ProxyState,
  route: ListingRoute,
  request: { method: "GET" | "HEAD"; query: URLSearchParams },
): Promise<Response> {
  const { registry, repository } = route;
  const kept = new URLSearchParams();
  for (const name of route.kind === "tags" ? ["n", "last"] : ["artifactType"]) {
    const value = request.query.get(name);
    if (value !== null) kept.set(name, value);
  }
  const query = kept.size > 0 ? `?${kept}` : "";
  const suffix = route.kind === "tags" ? "tags/list" : `referrers/${route.digest}`;
  const keep = route.kind === "tags" && query === ""
    ? cacheKeys.tagList(registry, repository)
    : undefined;
  let response: Response;
  try {
    response = await state.upstream(registry).request({
      method: request.method,
      repository,
      path: `/v2/${repository}/${suffix}${query}`,
      headers: route.kind === "referrers"
        ? { accept: "application/vnd.oci.image.index.v1+json" }
        : {},
    });
  } catch (error) {
    const stale = keep && error instanceof UpstreamUnavailableError
      ? await staleListing(state, keep, request.method)
      : undefined;
    if (stale) return stale;
    throw error;
  }
  const what = route.kind === "tags"
    ? `the tags of "${repository}"`
    : `referrers of "${route.digest}"`;
  if (!response.ok) {
    const stale = keep && isStaleStatus(response.status)
      ? await staleListing(state, keep, request.method)
      : undefined;
    if (stale) {
      await response.body?.cancel().catch(() => {});
      return stale;
    }
    throw await mapUpstreamStatus(response, { registry, what, notFound: "NAME_UNKNOWN" });
  }
  const headers = new Headers({
    "content-type": response.headers.get("content-type") ?? "application/json",
  });
  const filters = response.headers.get("oci-filters-applied");
  if (filters) headers.set("oci-filters-applied", filters);
  const link = response.headers.get("link");
  if (link) headers.set("link", rewriteLink(link, repository, route.clientName));
  if (request.method === "HEAD") return new Response(null, { status: 200, headers });
  const body = response.body
    ? await collectBytes(response.body, { maxBytes: MAX_LISTING_BYTES, what })
    : new Uint8Array();
  headers.set("content-length", String(body.length));
  if (keep) {
    state.background(`cache the tags of "${repository}"`, () => state.storage.write(keep, body));
  }
  return new Response(body as Uint8Array<ArrayBuffer>, { status: 200, headers });
}

/** The kept tags/list answer, marked stale, or undefined when none was kept. */
async function staleListing(
  state: ProxyState,
  key: string,
  method: "GET" | "HEAD",
): Promise<Response | undefined> {
  let body: Uint8Array;
  try {
    const object = await state.storage.read(key, { maxBytes: MAX_LISTING_BYTES });
    body = await collectBytes(object.body, { maxBytes: MAX_LISTING_BYTES, what: key });
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  state.metrics.inc("ferry_proxy_stale_served_total");
  const headers = new Headers({
    "content-type": "application/json",
    "content-length": String(body.length),
    // RFC 9111 §5.5 (obsoleted but still understood): 110 Response is Stale.
    "warning": '110 - "Response is Stale"',
  });
  return new Response(method === "HEAD" ? null : body as Uint8Array<ArrayBuffer>, {
    status: 200,
    headers,
  });
}

/** `</v2/library/nginx/tags/list?n=2&last=b>; rel="next"` → the same under the client's name. */
function rewriteLink(link: string, repository: string, clientName: string): string {
  return link.replace(/<([^>]*)>/g, (_whole, target: string) => {
    let url: URL;
    try {
      url = new URL(target, "http://upstream.invalid");
    } catch {
      return `<${target}>`;
    }
    const prefix = `/v2/${repository}/`;
    const path = url.pathname.startsWith(prefix)
      ? `/v2/${clientName}/${url.pathname.slice(prefix.length)}`
      : url.pathname;
    return `<${path}${url.search}>`;
  });
}
