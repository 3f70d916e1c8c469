/**
 * The error the proxy answers with. OCI distribution spec §"Error Codes": a 4xx/5xx body is
 * `{"errors":[{"code","message","detail"}]}`; the HTTP status goes with the code.
 *
 * @module
 */

/** The error codes of the OCI distribution spec, plus UNKNOWN for upstream failures. */
export type OciErrorCode =
  | "BLOB_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  | "UNKNOWN";

/** The statuses the proxy answers with. */
export type OciErrorStatus = 400 | 401 | 403 | 404 | 405 | 416 | 429 | 500 | 502 | 503 | 504;

/**
 * An error that reaches the client as OCI error JSON with `status`. Thrown anywhere below the
 * proxy app; `app.onError` turns it into the response.
 */
export class OciError extends Error {
  override name = "OciError";
  constructor(
    readonly status: OciErrorStatus,
    readonly code: OciErrorCode,
    message: string,
    readonly detail?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** The response body: `{"errors":[{code,message,detail}]}`. */
  toJson(): { errors: { code: string; message: string; detail?: unknown }[] } {
    return {
      errors: [{
        code: this.code,
        message: this.message,
        ...(this.detail === undefined ? {} : { detail: this.detail }),
      }],
    };
  }
}
