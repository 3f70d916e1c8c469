import { htmlResponse } from "../../lib/server/pages/html_page.ts";
import { renderErrorPage } from "../../lib/server/pages/render_error_page.ts";
import type { ListableStorage, StorageReader } from "../../lib/storage/storage.ts";
import { OciError } from "../oci_error.ts";
import type { ProxyConfig } from "../proxy_config.ts";
import type { ProxyMetrics } from "../proxy_metrics.ts";
import { type CacheSize, measureCache } from "./measure_cache.ts";
import type { ProxyActivity } from "./proxy_activity.ts";
import { type RegistryRow, renderProxyPage } from "./render_proxy_page.ts";

/** What the proxy page reads. */
export interface ProxyPageDeps {
  config: ProxyConfig;
  metrics: ProxyMetrics;
  storage: StorageReader & ListableStorage;
  activity: ProxyActivity;
  /** Epoch ms. */
  now: () => number;
  /** The cache is listed at most this often (ms); default 5000. */
  cacheListingMs?: number;
}

/**
 * The proxy's page for browsers. `admit` is the client gate's check (logins when they are on):
 * a refusal becomes an HTML 401/429 with the gate's challenge, so a browser asks for the login.
 * The cache is measured by listing it, at most every `cacheListingMs`.
 */
export function createProxyPage(
  deps: ProxyPageDeps,
): (request: Request, admit: () => Promise<void>) => Promise<Response> {
  const listEvery = deps.cacheListingMs ?? 5000;
  let measured: { at: number; size: Promise<CacheSize> } | undefined;
  const cacheSize = () => {
    if (!measured || deps.now() - measured.at >= listEvery) {
      const size = measureCache(deps.storage);
      measured = { at: deps.now(), size };
      size.catch(() => {
        if (measured?.size === size) measured = undefined;
      });
    }
    return measured.size;
  };

  return async (request, admit) => {
    const baseUrl = new URL(request.url).origin;
    try {
      await admit();
    } catch (error) {
      if (!(error instanceof OciError)) throw error;
      const document = renderErrorPage({
        product: "ferry proxy",
        where: baseUrl,
        home: "./",
        heading: error.status === 401 ? "Log in to see this page" : "Not now",
        message: error.message,
      });
      const response = htmlResponse(document, error.status);
      for (const [name, value] of Object.entries(error.headers)) {
        response.headers.set(name, value);
      }
      return response;
    }
    const { config, metrics, activity } = deps;
    const kinds = ["tag", "manifest", "blob"];
    const hits = Object.fromEntries(kinds.map((kind) => [kind, {
      hits: metrics.get("ferry_proxy_cache_hits_total", { kind }),
      misses: metrics.get("ferry_proxy_cache_misses_total", { kind }),
    }]));
    const registries: RegistryRow[] = Object.values(config.registries)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((registry) => ({
        name: registry.name,
        url: registry.url,
        library: registry.library === true,
        credentials: registry.username !== undefined || registry.password !== undefined,
        aliases: Object.entries(config.aliases).filter(([, name]) => name === registry.name)
          .map(([host]) => host).sort(),
        isDefault: config.defaultRegistry === registry.name,
        upstreamRequests: metrics.get("ferry_proxy_upstream_requests_total", {
          registry: registry.name,
        }),
        upstreamErrors: metrics.get("ferry_proxy_upstream_errors_total", {
          registry: registry.name,
        }),
      }));
    const cache = await cacheSize();
    return htmlResponse(renderProxyPage({
      baseUrl,
      registries,
      cache: { ...cache, maxBytes: config.cache.maxBytes },
      hits,
      staleTotal: metrics.get("ferry_proxy_stale_served_total"),
      upstreamErrorsTotal: metrics.get("ferry_proxy_upstream_errors_total"),
      pulls: activity.pulls,
      staleAnswers: activity.staleAnswers,
      upstreamErrors: activity.upstreamErrors,
      logins: config.auth.users.length > 0,
    }));
  };
}
