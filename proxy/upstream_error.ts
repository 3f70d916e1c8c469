import { DownloadError } from "../lib/errors.ts";

/**
 * The upstream could not be asked: the connection failed, timed out, or a body stopped flowing
 * ("timeout", "network"; worth retrying), or the proxy refused to go where the upstream pointed
 * or to trust what answered ("refused": a redirect into a private network, a certificate that
 * does not verify; retrying cannot help). A cached answer may be served instead
 * (stale-if-error); otherwise the client gets 502/504.
 */
export class UpstreamUnavailableError extends DownloadError {
  override name = "UpstreamUnavailableError";
  constructor(
    readonly registry: string,
    readonly reason: "timeout" | "network" | "refused",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Upstream statuses after which a cached answer is better than an error (the air-gap case). */
export function isStaleStatus(status: number): boolean {
  return status === 401 || status === 403 || status === 408 || status === 429 || status >= 500;
}
