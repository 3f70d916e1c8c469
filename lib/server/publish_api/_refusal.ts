/**
 * The publish API's refusals (folder-private) and the one mapper from errors to TiUP's error
 * answers. tiup-server (server/handler/error.go) answers `{"status": …, "message": …}` with these
 * status texts; its client branches only on the HTTP status (409 → "manifest too old", 403 →
 * "make sure you have access"), so the status codes are what must match.
 *
 * @module
 */
import {
  HashMismatchError,
  LengthMismatchError,
  ManifestFormatError,
  SignatureError,
} from "../../errors.ts";

/** Why the API refused a request; each maps to one of tiup-server's answers. */
export type RefusalReason =
  | "forbidden"
  | "conflict"
  | "invalid-manifest"
  | "invalid-tarball"
  | "session-missing"
  | "unauthorized";

/** A refusal with a reason the client can act on; the message is sent as the answer's message. */
export class PublishRefusal extends Error {
  override name = "PublishRefusal";
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** tiup-server's status code and status text for each reason. */
const ANSWERS: Record<RefusalReason, { code: number; status: string }> = {
  "forbidden": { code: 403, status: "FORBIDDEN" },
  "conflict": { code: 409, status: "MANIFEST CONFLICT" },
  "invalid-manifest": { code: 400, status: "INVALID MANIFEST" },
  "invalid-tarball": { code: 400, status: "INVALID TARBALL" },
  "session-missing": { code: 404, status: "SESSION NOT FOUND" },
  // Not in tiup-server (it has no client auth): ferry's optional write-API auth.
  "unauthorized": { code: 401, status: "UNAUTHORIZED" },
};

/** One JSON answer in tiup-server's shape. */
export function apiAnswer(code: number, status: string, message: string): Response {
  return new Response(JSON.stringify({ status, message }) + "\n", {
    status: code,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/**
 * Maps any error of a publish request to its answer: refusals by reason, a bad signature to 403
 * (TiUP's ErrorWrongSignature), a manifest that does not decode to 400 INVALID MANIFEST, bytes
 * that do not match to 400 INVALID TARBALL, anything else to 500 (reported through `onInternal`,
 * the message kept off the wire).
 */
export function refusalAnswer(error: unknown, onInternal?: (error: unknown) => void): Response {
  if (error instanceof PublishRefusal) {
    const answer = ANSWERS[error.reason];
    return apiAnswer(answer.code, answer.status, error.message);
  }
  if (error instanceof SignatureError) {
    return apiAnswer(403, "FORBIDDEN", error.message);
  }
  if (error instanceof ManifestFormatError || error instanceof SyntaxError) {
    return apiAnswer(400, "INVALID MANIFEST", error.message);
  }
  if (error instanceof HashMismatchError || error instanceof LengthMismatchError) {
    return apiAnswer(400, "INVALID TARBALL", error.message);
  }
  onInternal?.(error);
  return apiAnswer(500, "INTERNAL ERROR", "an internal error happened");
}
