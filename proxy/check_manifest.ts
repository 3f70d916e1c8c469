import { type AcceptClass, bareType, INDEX_TYPES, MANIFEST_TYPES } from "./accept_class.ts";

/** Why a tag answer cannot be a manifest; the caller turns it into a 502 and caches nothing. */
export class NotAManifestError extends Error {
  override name = "NotAManifestError";
}

/**
 * The media type to serve `bytes` with, after checking that they are a manifest a client of
 * `accepted` may get: a JSON object of a known manifest type that the client accepted, whose
 * Content-Type (when sent) and own `mediaType` field (when present) agree, with the fields its
 * type requires. Throws NotAManifestError otherwise: an HTML error page or a JSON error body
 * that a broken upstream or captive portal sends with 200 must never become the tag's answer.
 */
export function checkManifest(
  bytes: Uint8Array,
  contentType: string | null,
  accepted: AcceptClass,
): string {
  const declared = contentType === null ? undefined : bareType(contentType);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new NotAManifestError(`it is not JSON (Content-Type "${declared ?? "none"}")`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new NotAManifestError("it is not a JSON object");
  }
  const fields = body as Record<string, unknown>;
  const own = typeof fields.mediaType === "string" ? fields.mediaType : undefined;
  const type = declared ?? own;
  if (type === undefined) throw new NotAManifestError("it names no media type");
  if (!MANIFEST_TYPES.has(type)) {
    throw new NotAManifestError(`its Content-Type "${type}" is not a manifest type`);
  }
  if (!accepted.types.has(type)) {
    throw new NotAManifestError(`its type "${type}" is not one the client accepts`);
  }
  if (own !== undefined && own !== type) {
    throw new NotAManifestError(`its Content-Type is "${type}" but its mediaType is "${own}"`);
  }
  if (fields.schemaVersion !== (type.includes(".v1+") && type.includes("docker") ? 1 : 2)) {
    throw new NotAManifestError(`its schemaVersion does not fit "${type}"`);
  }
  const has = (name: string) => Array.isArray(fields[name]);
  const shaped = INDEX_TYPES.has(type)
    ? has("manifests")
    : fields.schemaVersion === 1
    ? has("fsLayers")
    : has("layers") && typeof fields.config === "object" && fields.config !== null;
  if (!shaped) throw new NotAManifestError(`it lacks the fields of "${type}"`);
  return contentType ?? type;
}
