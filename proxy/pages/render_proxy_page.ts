import { formatBytes, type Html, markup, renderPage } from "../../lib/server/pages/html_page.ts";
import type { CacheSize } from "./measure_cache.ts";
import type { PullRecord, UpstreamErrorRecord } from "./proxy_activity.ts";

/** One row of the registry table. */
export interface RegistryRow {
  name: string;
  url: string;
  /** One-segment names get "library/". */
  library: boolean;
  /** Whether upstream credentials are configured (never what they are). */
  credentials: boolean;
  /** Host aliases that lead to this registry. */
  aliases: string[];
  /** Names without a registry go here (Docker Hub mirror mode). */
  isDefault: boolean;
  upstreamRequests: number;
  upstreamErrors: number;
}

/** Everything the proxy page shows. */
export interface ProxyPageData {
  /** The proxy's address as the browser reached it ("http://10.0.0.5:5000"). */
  baseUrl: string;
  registries: RegistryRow[];
  cache: CacheSize & { maxBytes: number | undefined };
  /** Answers from the cache and answers that needed the upstream, by kind (tag, manifest, blob). */
  hits: Record<string, { hits: number; misses: number }>;
  staleTotal: number;
  upstreamErrorsTotal: number;
  pulls: readonly PullRecord[];
  staleAnswers: readonly PullRecord[];
  upstreamErrors: readonly UpstreamErrorRecord[];
  /** Whether clients must log in. */
  logins: boolean;
}

/**
 * The registry proxy's page: how to pull through it, its registry table, the cache's size and
 * hit ratio, and the recent pulls, stale answers and upstream errors. Pure; every string from
 * the configuration, the clients or the upstreams is escaped.
 */
export function renderProxyPage(data: ProxyPageData): string {
  const host = data.baseUrl.replace(/^https?:\/\//, "");
  let hits = 0;
  let misses = 0;
  for (const kind of Object.values(data.hits)) {
    hits += kind.hits;
    misses += kind.misses;
  }
  const example = data.registries.find((r) => r.name === "docker.io")
    ? "docker.io/library/alpine:latest"
    : `${data.registries[0]?.name ?? "REGISTRY"}/REPOSITORY:TAG`;
  const body = markup`
<h1>Registry proxy</h1>
<h2>Pull through this proxy</h2>
<code class="command" id="pull-command">docker pull ${host}/${example}</code>
<p class="hint">Any registry in the table below, by name after the proxy's address${
    data.logins ? "; log in first with docker login " + host : ""
  }.</p>
<h2>Cache</h2>
<div class="cards" id="cache">
${
    card(
      "cache-size",
      formatBytes(data.cache.bytes),
      data.cache.maxBytes === undefined
        ? "cached, no size limit"
        : `cached of ${formatBytes(data.cache.maxBytes)}`,
    )
  }
${card("hit-ratio", ratio(hits, misses), `hit ratio (${hits} hits, ${misses} misses)`)}
${card("stale-total", String(data.staleTotal), "stale answers (upstream failed)")}
${card("upstream-errors-total", String(data.upstreamErrorsTotal), "upstream errors")}
</div>
<p class="hint">${data.cache.blobs} blobs, ${data.cache.manifests} manifests, ${data.cache.tags} tag answers.
${
    Object.entries(data.hits).sort(([a], [b]) => a < b ? -1 : 1).map(([kind, h]) =>
      markup` ${kind}: ${ratio(h.hits, h.misses)}.`
    )
  }</p>
<h2>Registries</h2>
<div class="scroll"><table id="registries">
<thead><tr><th>Name</th><th>Upstream</th><th>Options</th><th class="num">Upstream requests</th><th class="num">Errors</th></tr></thead>
<tbody>${data.registries.map(registryRow)}</tbody>
</table></div>
<h2>Recent pulls</h2>
${pullTable("pulls", data.pulls, "No pulls since the proxy started.")}
<h2>Stale answers</h2>
${pullTable("stale", data.staleAnswers, "None: every tag was answered fresh.")}
<h2>Upstream errors</h2>
${errorTable(data.upstreamErrors)}
`;
  return renderPage({
    title: `Registry proxy at ${data.baseUrl}`,
    product: "ferry proxy",
    where: data.baseUrl,
    home: "./",
    body,
  });
}

function card(id: string, value: string, label: string): Html {
  return markup`<div class="card" id="${id}"><div class="value">${value}</div><div class="label">${label}</div></div>`;
}

function ratio(hits: number, misses: number): string {
  const total = hits + misses;
  return total === 0 ? "—" : `${Math.round((hits / total) * 1000) / 10} %`;
}

function registryRow(row: RegistryRow): Html {
  const options = [
    row.isDefault ? "default" : "",
    row.library ? "library/" : "",
    row.credentials ? "credentials" : "",
    ...row.aliases.map((alias) => `alias ${alias}`),
  ].filter((o) => o !== "");
  return markup`<tr data-registry="${row.name}"><td class="mono">${row.name}</td><td class="mono">${row.url}</td><td>${
    options.join(", ")
  }</td><td class="num">${row.upstreamRequests}</td><td class="num">${row.upstreamErrors}</td></tr>`;
}

function time(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function pullTable(id: string, records: readonly PullRecord[], empty: string): Html {
  if (records.length === 0) return markup`<p id="${id}-empty" class="hint">${empty}</p>`;
  return markup`<div class="scroll"><table id="${id}">
<thead><tr><th>Time (UTC)</th><th>Image</th><th>Client</th><th class="num">Status</th></tr></thead>
<tbody>${
    records.map((r) =>
      markup`<tr><td class="mono">${time(r.at)}</td><td class="mono">${r.image}${
        r.stale ? markup`<span class="badge warn">stale</span>` : ""
      }</td><td class="mono">${r.client}</td><td class="num">${r.status}</td></tr>`
    )
  }</tbody>
</table></div>`;
}

function errorTable(records: readonly UpstreamErrorRecord[]): Html {
  if (records.length === 0) {
    return markup`<p id="upstream-errors-empty" class="hint">None since the proxy started.</p>`;
  }
  return markup`<div class="scroll"><table id="upstream-errors">
<thead><tr><th>Time (UTC)</th><th>Registry</th><th>Request</th><th>Status</th></tr></thead>
<tbody>${
    records.map((r) =>
      markup`<tr><td class="mono">${
        time(r.at)
      }</td><td class="mono">${r.registry}</td><td class="mono">${r.method} ${r.url}</td><td>${
        r.status === "error" ? (r.phase === "body" ? "broke off" : "no answer") : String(r.status)
      }</td></tr>`
    )
  }</tbody>
</table></div>`;
}
