import { DownloadError } from "../lib/errors.ts";

/**
 * The upstream could not be asked: the connection failed, timed out, or a body stopped flowing.
 * A cached answer may be served instead (stale-if-error); otherwise the client gets 502/504.
 */
export class UpstreamUnavailableError extends DownloadError {
  override name = "UpstreamUnavailableError";
  constructor(
    readonly registry: string,
    readonly reason: "timeout" | "network",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
