import type { UpstreamEvent } from "./upstream_client.ts";

/** Label values of one counter series. */
export type Labels = Record<string, string>;

const HELP: Record<string, string> = {
  ferry_proxy_requests_total: "Client requests answered, by route kind, method and status",
  ferry_proxy_response_bytes_total: "Bytes sent to clients (Content-Length of answers)",
  ferry_proxy_cache_hits_total: "Answers served from the cache, by kind (manifest, tag, blob)",
  ferry_proxy_cache_misses_total: "Answers that needed the upstream, by kind",
  ferry_proxy_stale_served_total: "Tag answers served stale because the upstream failed",
  ferry_proxy_upstream_requests_total:
    "Requests sent to upstream registries, by registry, method, kind and status",
  ferry_proxy_upstream_errors_total:
    "Upstream requests that failed (network, timeout, 429, 5xx, or a body that broke off), by registry",
  ferry_proxy_blobs_committed_total: "Verified blobs written to the cache",
  ferry_proxy_blob_bytes_committed_total: "Bytes of verified blobs written to the cache",
  ferry_proxy_blobs_rejected_total:
    "Blob downloads not cached after they started (digest or length mismatch, broken transfer)",
  ferry_proxy_blob_downloads_joined_total: "Cold blob requests that joined a running download",
  ferry_proxy_evicted_bytes_total: "Bytes removed from the cache to stay under its size limit",
  ferry_proxy_rate_limited_total: "Requests refused by the per-client rate limit",
  ferry_proxy_login_failures_total:
    "Client logins refused, by whether the failure limit refused them unchecked",
};

const GAUGE_HELP: Record<string, string> = {
  ferry_proxy_blob_downloads_active: "Blob downloads from upstreams running now",
};

/**
 * Counters for `/metrics`, in the Prometheus text exposition format (version 0.0.4). One
 * instance per proxy app: nothing is global, so two proxies in one process count separately.
 */
export class ProxyMetrics {
  readonly #series = new Map<string, Map<string, number>>();
  readonly #gauges = new Map<string, () => number>();

  /** Adds `by` (default 1) to the counter `name` with `labels`. */
  inc(name: string, labels: Labels = {}, by = 1): void {
    let series = this.#series.get(name);
    if (!series) {
      series = new Map();
      this.#series.set(name, series);
    }
    const key = Object.entries(labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"`)
      .join(",");
    series.set(key, (series.get(key) ?? 0) + by);
  }

  /** The current value of one series (tests, benchmarks). */
  get(name: string, labels: Labels = {}): number {
    let total = 0;
    for (const [key, value] of this.#series.get(name) ?? []) {
      if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) total += value;
    }
    return total;
  }

  /** Registers a gauge read at scrape time. */
  gauge(name: string, read: () => number): void {
    this.#gauges.set(name, read);
  }

  /** Counts one upstream exchange (UpstreamClient's `onEvent`). */
  upstreamEvent(event: UpstreamEvent): void {
    const failed = event.status === "error" || event.status === 429 || event.status >= 500;
    if (failed) this.inc("ferry_proxy_upstream_errors_total", { registry: event.registry });
    // A body that broke off was counted as a request when its headers arrived.
    if (event.phase === "body") return;
    this.inc("ferry_proxy_upstream_requests_total", {
      registry: event.registry,
      method: event.method,
      kind: kindOfUrl(event.url),
      status: String(event.status),
    });
  }

  /** The exposition text. */
  render(): string {
    const lines: string[] = [];
    for (const name of Object.keys(HELP)) {
      lines.push(`# HELP ${name} ${HELP[name]}`, `# TYPE ${name} counter`);
      const series = this.#series.get(name);
      if (!series || series.size === 0) {
        lines.push(`${name} 0`);
        continue;
      }
      for (const [key, value] of series) lines.push(`${name}${key ? `{${key}}` : ""} ${value}`);
    }
    for (const [name, read] of this.#gauges) {
      const help = GAUGE_HELP[name] ?? name.replaceAll("_", " ");
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${read()}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

function kindOfUrl(url: string): string {
  const path = new URL(url).pathname;
  if (/\/manifests\/[^/]+$/.test(path)) return "manifest";
  if (/\/blobs\/[^/]+$/.test(path)) return "blob";
  if (/\/tags\/list$/.test(path)) return "tags";
  if (/\/referrers\/[^/]+$/.test(path)) return "referrers";
  return "other";
}
