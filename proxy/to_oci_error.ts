import {
  HashMismatchError,
  NotFoundError,
  StorageError,
  TooLargeError,
  VerificationError,
} from "../lib/errors.ts";
import { OciError } from "./oci_error.ts";
import { UpstreamUnavailableError } from "./upstream_error.ts";

/**
 * The proxy's one error mapper: a domain error as the OCI error the client gets. An upstream
 * that did not answer is 502 (504 on a timeout), bytes that do not match their digest 502
 * DIGEST_INVALID, a cache that cannot be used 500; nothing internal leaks into the message.
 */
export function toOciError(error: Error): OciError {
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
