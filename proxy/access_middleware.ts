import type { MiddlewareHandler } from "hono";
import { type AccessRecord, formatAccessLine } from "../lib/server/access_log.ts";
import type { Clock } from "../lib/clock.ts";
import type { RegistryProxyEnv } from "./_proxy_env.ts";
import { measureResponse } from "./measure_response.ts";
import type { ProxyMetrics } from "./proxy_metrics.ts";

/** Options for {@linkcode accessMiddleware}. */
export interface AccessMiddlewareOptions {
  /** One formatted line per request; omit to log nothing. */
  onAccess?: ((line: string, record: AccessRecord) => void) | undefined;
  now: Clock;
}

/**
 * Counts every answer (requests by route kind, method and status; bytes sent) and, with
 * `onAccess`, logs it once its last byte is out: the time and size of the whole answer, not of
 * the headers.
 */
export function accessMiddleware(
  metrics: ProxyMetrics,
  options: AccessMiddlewareOptions,
): MiddlewareHandler<RegistryProxyEnv> {
  const { onAccess, now } = options;
  return async (c, next) => {
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
      if (!onAccess) return;
      const entry: AccessRecord = {
        ...record,
        bytes: method === "HEAD" ? 0 : bytes,
        durationMs: performance.now() - started,
        time: now(),
      };
      onAccess(formatAccessLine(entry), entry);
    };
    // Without an access log the Content-Length is all the counters need, and a body left alone
    // keeps the runtime's fast path (Bun sends a cached blob with sendfile; measured, it is
    // about 1.5x slower through a stream).
    const length = c.res.headers.get("content-length");
    if (!onAccess && length !== null) return done({ bytes: Number(length) });
    c.res = measureResponse(c.res, done);
  };
}
