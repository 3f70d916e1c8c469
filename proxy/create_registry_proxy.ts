import { Hono } from "hono";
import type { Clock } from "../lib/clock.ts";
import { systemClock } from "../lib/clock.ts";
import type { AccessRecord } from "../lib/server/access_log.ts";
import { prefersHtml } from "../lib/server/pages/prefers_html.ts";
import { canReplaceIfMatch, type Storage } from "../lib/storage/storage.ts";
import { accessMiddleware } from "./access_middleware.ts";
import { BackgroundWork } from "./background_work.ts";
import {
  type BlobElectionOptions,
  createBlobElection,
  type ElectBlobFetcher,
} from "./blob_election.ts";
import { BlobFetcher } from "./blob_fetcher.ts";
import { cacheKeys } from "./cache_keys.ts";
import type { ClientAuthOptions } from "./client_auth.ts";
import { ClientGate } from "./client_gate.ts";
import { DeclaredSizes } from "./declared_sizes.ts";
import { EvictionScheduler } from "./eviction_scheduler.ts";
import { createV2Handler } from "./handle_v2.ts";
import { malformedRequest } from "./malformed_request.ts";
import { ManifestCache } from "./manifest_cache.ts";
import { OciError } from "./oci_error.ts";
import { ProxyActivity } from "./pages/proxy_activity.ts";
import { createProxyPage } from "./pages/proxy_page.ts";
import type { ProxyConfig, RegistryEntry } from "./proxy_config.ts";
import { ProxyMetrics } from "./proxy_metrics.ts";
import { SingleFlight } from "./single_flight.ts";
import { toOciError } from "./to_oci_error.ts";
import type { ResolveHost } from "./_target_guard.ts";
import { clientOf, originOf, type RegistryProxyEnv } from "./_proxy_env.ts";
import type { ProxyState } from "./_proxy_state.ts";
import { UpstreamClient } from "./upstream_client.ts";

export type { RegistryProxyEnv };

/**
 * A temporary file untouched this long belongs to no live download: a download writes as bytes
 * arrive and is cut off after the upstream timeout (30 s by default) without any.
 */
const STALE_TEMPORARY_MS = 10 * 60_000;
/**
 * On a shared bucket, an unfinished upload is another replica's live download for as long as
 * that download may take (S3 lists an upload by when it began, not by when it last grew).
 */
const STALE_SHARED_UPLOAD_MS = 24 * 60 * 60_000;

/** What the proxy does I/O with. */
export interface RegistryProxyDeps {
  /** Used for every upstream request (inject a test registry here). */
  fetch: typeof fetch;
  /**
   * The cache: blobs, manifests and tag answers. A storage with compare-and-swap (S3) is taken
   * to be shared by several replicas: each cold blob is then fetched by one of them, elected by
   * a lease in the storage (see createBlobElection).
   */
  storage: Storage;
  /** The blob leases' timings on a shared cache (tests shorten them). */
  blobLease?: BlobElectionOptions;
  /** A fetch for one registry (custom CA); defaults to `fetch`. */
  fetchFor?: (registry: RegistryEntry) => typeof fetch;
  /** Resolves upstream-supplied hosts for the private-network check (default: DNS). */
  resolveHost?: ResolveHost;
  /** The clock, for tag TTLs, tokens, rate limits and the access log. */
  now?: Clock;
  /** One formatted line per request; omit to log nothing. */
  onAccess?: (line: string, record: AccessRecord) => void;
  /** Operator notes: stale answers, rejected blobs, cache errors. */
  onLog?: (line: string) => void;
  userAgent?: string;
  /** Checks client passwords against bcrypt hashes (bcryptjs by default). */
  comparePassword?: ClientAuthOptions["compare"];
}

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
  const now = deps.now ?? systemClock;
  const log = deps.onLog ?? (() => {});
  const metrics = new ProxyMetrics();
  const activity = new ProxyActivity();
  const work = new BackgroundWork();
  const lastUsed = new Map<string, number>();
  const { storage } = deps;
  const elect = canReplaceIfMatch(storage)
    ? createBlobElection(storage, deps.blobLease)
    : undefined;
  sweepStaleTemporaries(storage, work, log, elect ? STALE_SHARED_UPLOAD_MS : undefined);
  // The blob fetcher and the eviction scheduler need each other: a commit triggers eviction,
  // which counts (and spares) the downloads in flight. Nothing grows before both exist.
  const grew = () => evictions?.grew();
  const blobs = createBlobFetcher(deps.storage, config, {
    metrics,
    log,
    grew,
    lastUsed,
    now,
    elect,
  });
  const evictions = scheduleEvictions(config, deps.storage, {
    metrics,
    log,
    work,
    lastUsed,
    blobs,
  });
  const state: ProxyState = {
    config,
    storage: deps.storage,
    manifests: new ManifestCache(deps.storage),
    manifestFetches: new SingleFlight(),
    declaredSizes: new DeclaredSizes(),
    blobs,
    metrics,
    now,
    touch: (key) => lastUsed.set(key, now().getTime()),
    grew,
    log,
    background(what, job) {
      work.track(job().catch((error) => log(`Cannot ${what}: ${(error as Error).message}`)));
    },
    upstream: upstreamClients(config, deps, { metrics, log, now, activity }),
  };
  const gate = new ClientGate(config, metrics, {
    now,
    ...(deps.comparePassword ? { compare: deps.comparePassword } : {}),
  });
  const app = buildApp(state, gate, deps, activity);
  return Object.assign(app, { metrics, idle: () => work.idle() });
}

/** What the proxy's parts report to and share. */
interface Shared {
  metrics: ProxyMetrics;
  log: (line: string) => void;
}

/** With a cache size limit: evictions when the cache grew, sparing downloads in flight. */
function scheduleEvictions(
  config: ProxyConfig,
  storage: Storage,
  shared: Shared & {
    work: BackgroundWork;
    lastUsed: Map<string, number>;
    blobs: BlobFetcher;
  },
): EvictionScheduler | undefined {
  const { maxBytes } = config.cache;
  if (maxBytes === undefined) return undefined;
  const { metrics, log, lastUsed, blobs } = shared;
  return new EvictionScheduler(storage, {
    maxBytes,
    inflightBytes: () => blobs.inflightBytes,
    lastUsed: (key) => lastUsed.get(key),
    isPinned: (key) => {
      const digest = cacheKeys.digestOf(key);
      return digest !== undefined && key.startsWith("blobs/") && blobs.isActive(digest);
    },
    track: (job) => shared.work.track(job),
    onEvicted: (result) => {
      if (result.deletedBytes === 0) return;
      metrics.inc("ferry_proxy_evicted_bytes_total", {}, result.deletedBytes);
      for (const key of result.deletedKeys) lastUsed.delete(key);
      log(`Evicted ${result.deletedKeys.length} cache entries (${result.deletedBytes} bytes)`);
    },
    onError: (error) => log(`Cannot evict from the cache: ${error.message}`),
  });
}

/**
 * Deletes the temporary files of downloads a killed proxy left behind: the storage never lists
 * them, so nothing else would delete them or count their bytes. A file touched within the grace
 * period may belong to a live download of another process on the same cache.
 */
function sweepStaleTemporaries(
  storage: Storage,
  work: BackgroundWork,
  log: (line: string) => void,
  graceMs = STALE_TEMPORARY_MS,
): void {
  if (!storage.sweepTempFiles) return;
  work.track(
    storage.sweepTempFiles({ before: new Date(Date.now() - graceMs) }).then(
      (removed) => {
        if (removed.length > 0) {
          log(`Removed ${removed.length} stale temporary files from the cache`);
        }
      },
      (error) => log(`Cannot sweep stale temporary files: ${(error as Error).message}`),
    ),
  );
}

/** The shared blob downloads, counted in the metrics and marked used when committed. */
function createBlobFetcher(
  storage: Storage,
  config: ProxyConfig,
  shared: Shared & {
    grew: () => void;
    lastUsed: Map<string, number>;
    now: Clock;
    elect: ElectBlobFetcher | undefined;
  },
): BlobFetcher {
  const { metrics, log, grew } = shared;
  const blobs = new BlobFetcher(storage, {
    onCommitted: (digest, size) => {
      metrics.inc("ferry_proxy_blobs_committed_total");
      metrics.inc("ferry_proxy_blob_bytes_committed_total", {}, size);
      shared.lastUsed.set(cacheKeys.blob(digest), shared.now().getTime());
      grew();
    },
    onRejected: (digest, error) => {
      // An upstream that answered 404/401 refused nothing we downloaded.
      if (error instanceof OciError) return;
      metrics.inc("ferry_proxy_blobs_rejected_total");
      log(`Not caching blob "${digest}": ${error.message}`);
    },
    onGrowth: grew,
    maxInflightBytes: config.cache.maxBytes,
    elect: shared.elect,
  });
  metrics.gauge("ferry_proxy_blob_downloads_active", () => blobs.active);
  return blobs;
}

/** One upstream client per configured registry, made on first use. */
function upstreamClients(
  config: ProxyConfig,
  deps: RegistryProxyDeps,
  shared: Shared & { now: Clock; activity: ProxyActivity },
): (name: string) => UpstreamClient {
  const clients = new Map<string, UpstreamClient>();
  return (name) => {
    let client = clients.get(name);
    if (client) return client;
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
      now: shared.now,
      onEvent: (event) => {
        shared.metrics.upstreamEvent(event);
        shared.activity.recordUpstream(event, shared.now().getTime());
      },
      onLog: shared.log,
    });
    clients.set(name, client);
    return client;
  };
}

/** The Hono app: malformed-request guard, access log, routes, one error mapper. */
function buildApp(
  state: ProxyState,
  gate: ClientGate,
  deps: RegistryProxyDeps,
  activity: ProxyActivity,
): Hono<RegistryProxyEnv> {
  const app = new Hono<RegistryProxyEnv>();
  app.use("*", async (c, next) => {
    const problem = malformedRequest(c.req.raw);
    if (problem) return c.json(new OciError(400, "UNSUPPORTED", problem).toJson(), 400);
    await next();
  });
  app.use("*", accessMiddleware(state.metrics, { onAccess: deps.onAccess, now: state.now }));
  app.get("/metrics", async (c) => {
    await gate.admitMetrics(clientOf(c), originOf(c));
    return c.body(state.metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // A browser gets the proxy's page (pages/); every other client the 404 it always got.
  const page = createProxyPage({
    config: state.config,
    metrics: state.metrics,
    storage: deps.storage,
    activity,
    now: () => state.now().getTime(),
  });
  app.get("/", async (c, next) => {
    if (!prefersHtml(c.req.header("accept"))) return await next();
    return await page(c.req.raw, () => gate.admitPage(clientOf(c)));
  });
  app.get("/auth/token", async (c) => {
    c.set("routeKind", "token");
    return c.json(await gate.issueToken(clientOf(c)));
  });
  const handleV2 = createV2Handler(state, gate, activity);
  app.all("/v2/*", handleV2);
  app.all("/v2", handleV2);
  app.notFound((c) => c.json(new OciError(404, "NAME_UNKNOWN", "Not found").toJson(), 404));
  app.onError((error, c) => {
    const oci = toOciError(error);
    if (oci.status >= 500) {
      state.log(`${c.req.method} ${new URL(c.req.url).pathname}: ${error.message}`);
    }
    const headers = { "docker-distribution-api-version": "registry/2.0", ...oci.headers };
    return c.json(oci.toJson(), oci.status, headers);
  });
  return app;
}
