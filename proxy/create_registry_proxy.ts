import { Hono } from "hono";
import type { Context } from "hono";
import {
  HashMismatchError,
  NotFoundError,
  StorageError,
  TooLargeError,
  VerificationError,
} from "../lib/errors.ts";
import { type AccessRecord, formatAccessLine } from "../lib/server/access_log.ts";
import { prefersHtml } from "../lib/server/pages/prefers_html.ts";
import type { Storage } from "../lib/storage/storage.ts";
import type { ProxyState } from "./_proxy_state.ts";
import { BlobFetcher } from "./blob_fetcher.ts";
import { DeclaredSizes } from "./declared_sizes.ts";
import { cacheKeys } from "./cache_keys.ts";
import type { ClientAuthOptions } from "./client_auth.ts";
import { ClientGate } from "./client_gate.ts";
import { evictCache } from "./evict_cache.ts";
import { malformedRequest } from "./malformed_request.ts";
import { ManifestCache } from "./manifest_cache.ts";
import { measureResponse } from "./measure_response.ts";
import { OciError } from "./oci_error.ts";
import { ProxyActivity } from "./pages/proxy_activity.ts";
import { createProxyPage } from "./pages/proxy_page.ts";
import { parseRoute, type Route } from "./parse_route.ts";
import type { ProxyConfig, RegistryEntry } from "./proxy_config.ts";
import { ProxyMetrics } from "./proxy_metrics.ts";
import { serveBlob } from "./serve_blob.ts";
import { serveListing } from "./serve_listing.ts";
import { serveManifest } from "./serve_manifest.ts";
import { SingleFlight } from "./single_flight.ts";
import type { ResolveHost } from "./_target_guard.ts";
import { UpstreamClient } from "./upstream_client.ts";
import { UpstreamUnavailableError } from "./upstream_error.ts";

/**
 * A temporary file untouched this long belongs to no live download: a download writes as bytes
 * arrive and is cut off after the upstream timeout (30 s by default) without any.
 */
const STALE_TEMPORARY_MS = 10 * 60_000;

/** What the proxy does I/O with. */
export interface RegistryProxyDeps {
  /** Used for every upstream request (inject a test registry here). */
  fetch: typeof fetch;
  /** The cache: blobs, manifests and tag answers. */
  storage: Storage;
  /** A fetch for one registry (custom CA); defaults to `fetch`. */
  fetchFor?: (registry: RegistryEntry) => typeof fetch;
  /** Resolves upstream-supplied hosts for the private-network check (default: DNS). */
  resolveHost?: ResolveHost;
  /** Clock (epoch ms), for tag TTLs and tokens. */
  now?: () => number;
  /** One formatted line per request; omit to log nothing. */
  onAccess?: (line: string, record: AccessRecord) => void;
  /** Operator notes: stale answers, rejected blobs, cache errors. */
  onLog?: (line: string) => void;
  userAgent?: string;
  /** Checks client passwords against bcrypt hashes (bcryptjs by default). */
  comparePassword?: ClientAuthOptions["compare"];
}

/** Hono bindings: the client address comes from the runtime adapter. */
export type RegistryProxyEnv = {
  Bindings: { remoteAddress?: string };
  Variables: { routeKind: string };
};

/** The proxy app plus handles for the command and tests. */
export type RegistryProxy = Hono<RegistryProxyEnv> & {
  metrics: ProxyMetrics;
  /** Resolves when cache writes and evictions in progress are done. */
  idle(): Promise<void>;
};

/**
 * The container-registry pull proxy as a Hono app (OCI distribution spec, pull endpoints only).
 * Routes by path prefix, Host alias, `?ns=` or the default registry (see parseRoute); refuses
 * registries that are not in the table; answers every error as OCI error JSON; keeps no module
 * state, so several proxies can live in one process. Run it with
 * `serveHttp((req, info) => app.fetch(req, info), …)`, test it with `app.request(path)`.
 */
export function createRegistryProxy(config: ProxyConfig, deps: RegistryProxyDeps): RegistryProxy {
  const now = deps.now ?? Date.now;
  const log = deps.onLog ?? (() => {});
  const metrics = new ProxyMetrics();
  const activity = new ProxyActivity();
  const registries = new Set(Object.keys(config.registries));
  const libraryRegistries = new Set(
    Object.values(config.registries).filter((r) => r.library).map((r) => r.name),
  );
  const gate = new ClientGate(config, metrics, {
    now,
    ...(deps.comparePassword ? { compare: deps.comparePassword } : {}),
  });
  const allow = config.allow.map(globToRegExp);
  const block = config.block.map(globToRegExp);
  const lastUsed = new Map<string, number>();
  const pending = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    pending.add(work);
    work.finally(() => pending.delete(work)).catch(() => {});
  };

  let evicting = false;
  let evictAgain = false;
  const maxBytes = config.cache.maxBytes;
  const grew = () => {
    if (maxBytes === undefined) return;
    if (evicting) {
      evictAgain = true;
      return;
    }
    evicting = true;
    track((async () => {
      do {
        evictAgain = false;
        try {
          const result = await evictCache(deps.storage, {
            targetBytes: Math.floor(maxBytes * 0.9),
            inflightBytes: blobs.inflightBytes,
            lastUsed: (key) => lastUsed.get(key),
            isPinned: (key) => {
              const digest = cacheKeys.digestOf(key);
              return digest !== undefined && key.startsWith("blobs/") && blobs.isActive(digest);
            },
          });
          if (result.deletedBytes > 0) {
            metrics.inc("ferry_proxy_evicted_bytes_total", {}, result.deletedBytes);
            for (const key of result.deletedKeys) lastUsed.delete(key);
            log(
              `Evicted ${result.deletedKeys.length} cache entries (${result.deletedBytes} bytes)`,
            );
          }
        } catch (error) {
          log(`Cannot evict from the cache: ${(error as Error).message}`);
        }
      } while (evictAgain);
      evicting = false;
    })());
  };

  // The temporary files of downloads a killed proxy left behind: the storage never lists them,
  // so nothing else would delete them or count their bytes. A file touched within the grace
  // period may belong to a live download of another process on the same cache.
  if (deps.storage.sweepTempFiles) {
    track(
      deps.storage.sweepTempFiles({ before: new Date(Date.now() - STALE_TEMPORARY_MS) }).then(
        (removed) => {
          if (removed.length > 0) {
            log(`Removed ${removed.length} stale temporary files from the cache`);
          }
        },
        (error) => log(`Cannot sweep stale temporary files: ${(error as Error).message}`),
      ),
    );
  }

  const blobs = new BlobFetcher(deps.storage, {
    onCommitted: (digest, size) => {
      metrics.inc("ferry_proxy_blobs_committed_total");
      metrics.inc("ferry_proxy_blob_bytes_committed_total", {}, size);
      lastUsed.set(cacheKeys.blob(digest), now());
      grew();
    },
    onRejected: (digest, error) => {
      // An upstream that answered 404/401 refused nothing we downloaded.
      if (error instanceof OciError) return;
      metrics.inc("ferry_proxy_blobs_rejected_total");
      log(`Not caching blob "${digest}": ${error.message}`);
    },
    onGrowth: grew,
    maxInflightBytes: maxBytes,
  });
  metrics.gauge("ferry_proxy_blob_downloads_active", () => blobs.active);

  const clients = new Map<string, UpstreamClient>();
  const state: ProxyState = {
    config,
    storage: deps.storage,
    manifests: new ManifestCache(deps.storage),
    manifestFetches: new SingleFlight(),
    declaredSizes: new DeclaredSizes(),
    blobs,
    metrics,
    now,
    touch: (key) => lastUsed.set(key, now()),
    grew,
    log,
    background(what, work) {
      track(work().catch((error) => log(`Cannot ${what}: ${(error as Error).message}`)));
    },
    upstream(name) {
      let client = clients.get(name);
      if (!client) {
        const registry = config.registries[name];
        if (!registry) throw new OciError(403, "DENIED", `Registry "${name}" is not configured`);
        client = new UpstreamClient(registry, {
          fetch: deps.fetchFor?.(registry) ?? deps.fetch,
          timeoutMs: config.upstream.timeoutMs,
          retries: config.upstream.retries,
          breakerFailures: config.upstream.breakerFailures,
          breakerCooldownMs: config.upstream.breakerCooldownMs,
          ...(deps.resolveHost ? { resolveHost: deps.resolveHost } : {}),
          userAgent: deps.userAgent ?? "ferry-proxy",
          now,
          onEvent: (event) => {
            metrics.upstreamEvent(event);
            activity.recordUpstream(event, now());
          },
          onLog: log,
        });
        clients.set(name, client);
      }
      return client;
    },
  };

  const app = new Hono<RegistryProxyEnv>();

  app.use("*", async (c, next) => {
    const problem = malformedRequest(c.req.raw);
    if (problem) return c.json(new OciError(400, "UNSUPPORTED", problem).toJson(), 400);
    await next();
  });

  app.use("*", async (c, next) => {
    const started = performance.now();
    c.set("routeKind", "other");
    await next();
    const { method } = c.req;
    const kind = c.get("routeKind");
    const status = c.res.status;
    const record = {
      remoteAddress: c.env?.remoteAddress ?? "-",
      method,
      path: new URL(c.req.url).pathname,
      status,
      userAgent: c.req.header("user-agent") ?? "-",
    };
    const done = ({ bytes }: { bytes: number }) => {
      metrics.inc("ferry_proxy_requests_total", { kind, method, status: String(status) });
      if (method !== "HEAD") metrics.inc("ferry_proxy_response_bytes_total", {}, bytes);
      if (!deps.onAccess) return;
      const entry: AccessRecord = {
        ...record,
        bytes: method === "HEAD" ? 0 : bytes,
        durationMs: performance.now() - started,
        time: new Date(now()),
      };
      deps.onAccess(formatAccessLine(entry), entry);
    };
    // Without an access log the Content-Length is all the counters need, and a body left alone
    // keeps the runtime's fast path (Bun sends a cached blob with sendfile; measured, it is
    // about 1.5x slower through a stream).
    const length = c.res.headers.get("content-length");
    if (!deps.onAccess && length !== null) return done({ bytes: Number(length) });
    // Logged when the last byte is out: the time and size of the whole answer, not the headers.
    c.res = measureResponse(c.res, done);
  });

  app.get("/metrics", async (c) => {
    await gate.admitMetrics(clientOf(c), originOf(c));
    return c.body(metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  app.get("/healthz", (c) => c.json({ status: "ok" }));

  // A browser gets the proxy's page (pages/); every other client the 404 it always got.
  const page = createProxyPage({ config, metrics, storage: deps.storage, activity, now });
  app.get("/", async (c, next) => {
    if (!prefersHtml(c.req.header("accept"))) return await next();
    return await page(c.req.raw, () => gate.admitPage(clientOf(c)));
  });

  app.get("/auth/token", async (c) => {
    c.set("routeKind", "token");
    return c.json(await gate.issueToken(clientOf(c)));
  });

  app.all("/v2/*", (c) => handleV2(c));
  app.all("/v2", (c) => handleV2(c));

  async function handleV2(c: Context<RegistryProxyEnv>): Promise<Response> {
    c.header("docker-distribution-api-version", "registry/2.0");
    const url = new URL(c.req.url);
    const host = c.req.header("host") ?? url.host;
    const ns = url.searchParams.get("ns") ?? undefined;
    await gate.admit(clientOf(c), originOf(c));
    const route = parseRoute(url.pathname, {
      registries,
      aliases: config.aliases,
      host,
      ns,
      defaultRegistry: config.defaultRegistry,
      libraryRegistries,
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
    const response = await dispatch(route, method, c, url);
    activity.recordAnswer(route, response, { method, client: clientOf(c).client, at: now() });
    if (ns) response.headers.set("oci-namespace", ns);
    response.headers.set("docker-distribution-api-version", "registry/2.0");
    return response;
  }

  async function dispatch(
    route: Route,
    method: "GET" | "HEAD",
    c: Context<RegistryProxyEnv>,
    url: URL,
  ): Promise<Response> {
    switch (route.kind) {
      case "ping":
        return c.json({});
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
    if (
      block.some((re) => re.test(subject)) ||
      (allow.length > 0 && !allow.some((re) => re.test(subject)))
    ) {
      throw new OciError(403, "DENIED", `"${subject}" is not allowed through this proxy`);
    }
    switch (route.kind) {
      case "manifest":
        return await serveManifest(state, route, { method, accept: c.req.header("accept") });
      case "blob":
        return await serveBlob(state, route, { method, range: c.req.header("range") });
      case "tags":
      case "referrers":
        return await serveListing(state, route, { method, query: url.searchParams });
    }
  }

  app.notFound((c) => c.json(new OciError(404, "NAME_UNKNOWN", "Not found").toJson(), 404));

  app.onError((error, c) => {
    const oci = toOciError(error);
    if (oci.status >= 500) log(`${c.req.method} ${new URL(c.req.url).pathname}: ${error.message}`);
    const headers: Record<string, string> = {
      "docker-distribution-api-version": "registry/2.0",
      ...oci.headers,
    };
    return c.json(oci.toJson(), oci.status, headers);
  });

  return Object.assign(app, {
    metrics,
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  });
}

function toOciError(error: Error): OciError {
  if (error instanceof OciError) return error;
  if (error instanceof UpstreamUnavailableError) {
    return new OciError(
      error.reason === "timeout" ? 504 : 502,
      "UNKNOWN",
      `${error.message}; nothing cached to serve instead`,
    );
  }
  if (error instanceof TooLargeError) {
    return new OciError(502, "SIZE_INVALID", `${error.message}; it was not cached`);
  }
  if (error instanceof HashMismatchError || error instanceof VerificationError) {
    return new OciError(502, "DIGEST_INVALID", error.message);
  }
  if (error instanceof NotFoundError) return new OciError(404, "BLOB_UNKNOWN", "Not in the cache");
  if (error instanceof StorageError) {
    return new OciError(500, "UNKNOWN", "The proxy cache cannot be read or written");
  }
  return new OciError(500, "UNKNOWN", "Internal error in the proxy");
}

/** `*` matches within one path segment, `**` across segments. */
function globToRegExp(pattern: string): RegExp {
  const body = pattern.split("**").map((part) =>
    part.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")
  ).join(".*");
  return new RegExp(`^${body}$`);
}

function clientOf(c: Context<RegistryProxyEnv>) {
  return { authorization: c.req.header("authorization"), client: c.env?.remoteAddress ?? "-" };
}

/** The proxy's own origin as the client sees it, for auth challenges. */
function originOf(c: Context<RegistryProxyEnv>): string {
  const url = new URL(c.req.url);
  const proto = c.req.header("x-forwarded-proto") ?? url.protocol.slice(0, -1);
  return `${proto}://${c.req.header("host") ?? url.host}`;
}
