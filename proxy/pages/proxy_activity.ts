import type { Route } from "../parse_route.ts";
import type { UpstreamEvent } from "../upstream_client.ts";

/** A manifest answered to a client: what people call a pull. */
export interface PullRecord {
  /** Epoch ms. */
  at: number;
  /** "docker.io/library/alpine:3.19" or "…@sha256:…". */
  image: string;
  client: string;
  status: number;
  /** Answered from the cache because the upstream failed (Warning: 110). */
  stale: boolean;
}

/** An upstream request that failed (network, timeout, 429, 5xx, a body that broke off). */
export interface UpstreamErrorRecord {
  at: number;
  registry: string;
  method: string;
  /** Origin and path only: a query may carry a token scope nobody needs to see. */
  url: string;
  status: number | "error";
  /** "body" when the answer had started and then broke off. */
  phase?: "body";
}

/** Options for {@linkcode ProxyActivity}. */
export interface ProxyActivityOptions {
  /** How many records of each kind are kept (the newest). Default 50. */
  keep?: number;
}

/**
 * The proxy's recent activity for its web page, held in memory in fixed-size rings: the last
 * pulls, stale answers and upstream errors. Counting stays with ProxyMetrics; this keeps only
 * what a person wants to read by name.
 */
export class ProxyActivity {
  readonly #keep: number;
  readonly #pulls: PullRecord[] = [];
  readonly #stale: PullRecord[] = [];
  readonly #errors: UpstreamErrorRecord[] = [];

  constructor(options: ProxyActivityOptions = {}) {
    this.#keep = options.keep ?? 50;
  }

  /**
   * Notes a registry API answer: a manifest GET is a pull; any answer marked stale (RFC 9111
   * §5.5 `Warning: 110`, as serve_manifest and serve_listing mark them) is a stale answer.
   */
  recordAnswer(
    route: Route,
    response: Response,
    request: { method: string; client: string; at: number },
  ): void {
    if (route.kind !== "manifest" && route.kind !== "tags") return;
    const stale = /^\s*110\b/.test(response.headers.get("warning") ?? "");
    const reference = route.kind === "tags"
      ? " (tags)"
      : route.reference.includes(":")
      ? `@${route.reference}`
      : `:${route.reference}`;
    const record: PullRecord = {
      at: request.at,
      image: `${route.registry}/${route.repository}${reference}`,
      client: request.client,
      status: response.status,
      stale,
    };
    if (route.kind === "manifest" && request.method === "GET") this.#push(this.#pulls, record);
    if (stale) this.#push(this.#stale, record);
  }

  /** Notes an upstream exchange (UpstreamClient's `onEvent`); only failures are kept. */
  recordUpstream(event: UpstreamEvent, at: number): void {
    const failed = event.status === "error" || event.status === 429 || event.status >= 500;
    if (!failed) return;
    let url = event.url;
    try {
      const parsed = new URL(event.url);
      url = `${parsed.origin}${parsed.pathname}`;
    } catch {
      // keep what was given
    }
    this.#push(this.#errors, {
      at,
      registry: event.registry,
      method: event.method,
      url,
      status: event.status,
      ...(event.phase ? { phase: event.phase } : {}),
    });
  }

  /** The last pulls, newest first. */
  get pulls(): readonly PullRecord[] {
    return [...this.#pulls].reverse();
  }

  /** The last stale answers, newest first. */
  get staleAnswers(): readonly PullRecord[] {
    return [...this.#stale].reverse();
  }

  /** The last upstream failures, newest first. */
  get upstreamErrors(): readonly UpstreamErrorRecord[] {
    return [...this.#errors].reverse();
  }

  #push<T>(ring: T[], record: T): void {
    ring.push(record);
    if (ring.length > this.#keep) ring.splice(0, ring.length - this.#keep);
  }
}
