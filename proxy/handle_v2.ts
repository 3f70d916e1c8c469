import type { ClientGate } from "./client_gate.ts";
import { OciError } from "./oci_error.ts";
import type { ProxyActivity } from "./pages/proxy_activity.ts";
import { parseRoute, type Route } from "./parse_route.ts";
import type { ProxyConfig } from "./proxy_config.ts";
import type { ProxyState } from "./_proxy_state.ts";
import { clientOf, originOf, type ProxyContext } from "./_proxy_env.ts";
import { serveBlob } from "./serve_blob.ts";
import { serveListing } from "./serve_listing.ts";
import { serveManifest } from "./serve_manifest.ts";

/**
 * The handler of every `/v2` request: admit the client, parse the route, refuse what this
 * pull-only proxy does not do and what the allow/block lists keep out, then serve the
 * manifest, blob or listing.
 */
export function createV2Handler(
  state: ProxyState,
  gate: ClientGate,
  activity: ProxyActivity,
): (c: ProxyContext) => Promise<Response> {
  const { config } = state;
  const routing = {
    registries: new Set(Object.keys(config.registries)),
    aliases: config.aliases,
    defaultRegistry: config.defaultRegistry,
    libraryRegistries: new Set(
      Object.values(config.registries).filter((r) => r.library).map((r) => r.name),
    ),
  };
  const allowed = subjectFilter(config);
  return async (c) => {
    c.header("docker-distribution-api-version", "registry/2.0");
    const url = new URL(c.req.url);
    const ns = url.searchParams.get("ns") ?? undefined;
    await gate.admit(clientOf(c), originOf(c));
    const route = parseRoute(url.pathname, {
      ...routing,
      host: c.req.header("host") ?? url.host,
      ns,
    });
    c.set("routeKind", route.kind);
    const method = c.req.method;
    if (method !== "GET" && method !== "HEAD") {
      throw new OciError(
        405,
        "UNSUPPORTED",
        `${method} is not supported: this proxy only pulls; push to the upstream registry instead`,
      );
    }
    if (ns) c.header("oci-namespace", ns);
    const response = route.kind === "ping"
      ? c.json({})
      : await servePull(state, allowedPull(route, allowed), { method, c, url });
    activity.recordAnswer(route, response, {
      method,
      client: clientOf(c).client,
      at: state.now().getTime(),
    });
    if (ns) response.headers.set("oci-namespace", ns);
    response.headers.set("docker-distribution-api-version", "registry/2.0");
    return response;
  };
}

type PullRoute = Extract<Route, { kind: "manifest" | "blob" | "tags" | "referrers" }>;

/** The route as a pull the proxy serves; throws the answer for anything else. */
function allowedPull(
  route: Exclude<Route, { kind: "ping" }>,
  allowed: (subject: string) => boolean,
): PullRoute {
  switch (route.kind) {
    case "catalog":
      throw new OciError(405, "UNSUPPORTED", "The catalog is not available through this proxy");
    case "upload":
      throw new OciError(
        405,
        "UNSUPPORTED",
        "Uploads are not supported: this proxy only pulls; push to the upstream registry instead",
      );
    case "not-v2":
      throw new OciError(404, "NAME_UNKNOWN", "Not a registry API path");
    case "denied":
      throw new OciError(403, "DENIED", route.message);
    case "invalid":
      throw new OciError(route.status, route.code, route.message);
  }
  const subject = `${route.registry}/${route.repository}`;
  if (!allowed(subject)) {
    throw new OciError(403, "DENIED", `"${subject}" is not allowed through this proxy`);
  }
  return route;
}

function servePull(
  state: ProxyState,
  route: PullRoute,
  request: { method: "GET" | "HEAD"; c: ProxyContext; url: URL },
): Promise<Response> {
  const { method, c, url } = request;
  switch (route.kind) {
    case "manifest":
      return serveManifest(state, route, { method, accept: c.req.header("accept") });
    case "blob":
      return serveBlob(state, route, { method, range: c.req.header("range") });
    case "tags":
    case "referrers":
      return serveListing(state, route, { method, query: url.searchParams });
  }
}

/** The allow and block lists as one test: `*` matches within a path segment, `**` across. */
function subjectFilter(config: ProxyConfig): (subject: string) => boolean {
  const allow = config.allow.map(globToRegExp);
  const block = config.block.map(globToRegExp);
  return (subject) =>
    !block.some((re) => re.test(subject)) &&
    (allow.length === 0 || allow.some((re) => re.test(subject)));
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.split("**").map((part) =>
    part.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")
  ).join(".*");
  return new RegExp(`^${body}$`);
}
