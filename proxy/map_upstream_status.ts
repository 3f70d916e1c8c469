import { OciError, type OciErrorCode } from "./oci_error.ts";

const FORWARDED_CODES = new Set<string>([
  "BLOB_UNKNOWN",
  "DIGEST_INVALID",
  "MANIFEST_BLOB_UNKNOWN",
  "MANIFEST_INVALID",
  "MANIFEST_UNKNOWN",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "SIZE_INVALID",
]);

/**
 * Turns an upstream answer that is not a success into the error the client sees. Auth failures
 * become DENIED without the upstream's challenge (the client cannot answer it: the proxy owns
 * upstream credentials); 404/400 keep the upstream's OCI code and message, which explain things
 * like "OCI index found, but accept header does not support OCI indexes"; 429 stays 429 with
 * Retry-After; 5xx becomes 502. The body is read (capped) and discarded.
 */
export async function mapUpstreamStatus(
  response: Response,
  context: { registry: string; what: string; notFound: OciErrorCode },
): Promise<OciError> {
  const { registry, what } = context;
  const status = response.status;
  let upstreamError: { code?: unknown; message?: unknown; detail?: unknown } | undefined;
  if (response.body) {
    const text = await readSome(response.body, 64 * 1024);
    try {
      const parsed = JSON.parse(text);
      if (Array.isArray(parsed?.errors)) upstreamError = parsed.errors[0];
    } catch {
      // not JSON: keep our own message
    }
  }
  if (status === 401 || status === 403) {
    return new OciError(
      403,
      "DENIED",
      `Registry "${registry}" refused access to ${what} (status ${status}); ` +
        "check the credentials configured for it",
    );
  }
  if (status === 429) {
    const retry = response.headers.get("retry-after");
    return new OciError(
      429,
      "TOOMANYREQUESTS",
      `Registry "${registry}" is rate-limiting this proxy; try again later`,
      undefined,
      retry ? { "retry-after": retry } : {},
    );
  }
  if (status === 404 || status === 400) {
    const code = typeof upstreamError?.code === "string" && FORWARDED_CODES.has(upstreamError.code)
      ? upstreamError.code as OciErrorCode
      : status === 404
      ? context.notFound
      : "MANIFEST_INVALID";
    const message = typeof upstreamError?.message === "string"
      ? `${upstreamError.message} (${what} at "${registry}")`
      : `${what} is not known to registry "${registry}"`;
    return new OciError(status, code, message, upstreamError?.detail);
  }
  return new OciError(
    502,
    "UNKNOWN",
    `Registry "${registry}" answered ${status} for ${what}; try again later`,
  );
}

async function readSome(body: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
  } catch {
    // a broken error body is not worth more than the status
  } finally {
    await reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(all.subarray(0, max));
}
