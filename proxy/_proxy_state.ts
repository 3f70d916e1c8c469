/**
 * What the request handlers of one proxy app share. Private to proxy/: created by
 * createRegistryProxy, never at module level.
 *
 * @module
 */
import type { Clock } from "../lib/clock.ts";
import type { Storage } from "../lib/storage/storage.ts";
import type { BlobFetcher } from "./blob_fetcher.ts";
import type { DeclaredSizes } from "./declared_sizes.ts";
import type { CachedManifest, ManifestCache } from "./manifest_cache.ts";
import type { ProxyConfig } from "./proxy_config.ts";
import type { ProxyMetrics } from "./proxy_metrics.ts";
import type { SingleFlight } from "./single_flight.ts";
import type { UpstreamClient } from "./upstream_client.ts";

export interface ProxyState {
  config: ProxyConfig;
  storage: Storage;
  manifests: ManifestCache;
  blobs: BlobFetcher;
  /** Upstream manifest fetches in progress, one per tag and Accept class or per digest. */
  manifestFetches: SingleFlight<CachedManifest>;
  /** Blob sizes declared by the manifests served, to cap cold blob downloads. */
  declaredSizes: DeclaredSizes;
  metrics: ProxyMetrics;
  upstream(registry: string): UpstreamClient;
  now: Clock;
  /** Records a use of a cache key (for least-recently-used eviction). */
  touch(key: string): void;
  /** Something was added to the cache: check the size limit soon. */
  grew(): void;
  /** Runs cache bookkeeping after the answer is sent; failures are logged, never thrown. */
  background(what: string, work: () => Promise<unknown>): void;
  /** A line for the operator's log (stale answers, rejected blobs, commit failures). */
  log(line: string): void;
}
