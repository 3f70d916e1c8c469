/**
 * The OCI distribution pull API's paths, parsed without I/O: `/v2/`, `/v2/_catalog` and
 * `/v2/<name>/{manifests/<ref>, blobs/<digest>, tags/list, referrers/<digest>}`.
 *
 * @module
 */

/** What a `/v2/` path asks for; `name` is the repository as the client wrote it. */
export type OciPath =
  | { kind: "ping" }
  | { kind: "catalog" }
  | { kind: "manifest"; name: string[]; reference: string }
  | { kind: "blob"; name: string[]; digest: string }
  | { kind: "tags"; name: string[] }
  | { kind: "referrers"; name: string[]; digest: string }
  | { kind: "invalid"; message: string };

/** Parses a raw request path (no query) such as `/v2/docker.io/library/nginx/manifests/latest`. */
export function parseOciPath(raw: string): OciPath {
  if (raw === "/v2" || raw === "/v2/") return { kind: "ping" };
  let segments: string[];
  try {
    segments = raw.slice("/v2/".length).split("/").map((s) => decodeURIComponent(s));
  } catch {
    return { kind: "invalid", message: "Cannot parse the path: bad percent-encoding" };
  }
  if (segments.length === 1 && segments[0] === "_catalog") return { kind: "catalog" };
  const n = segments.length;
  if (n < 3 || segments.some((s) => s === "")) return invalid();
  const name = segments.slice(0, n - 2);
  const op = segments[n - 2];
  const last = segments[n - 1]!;
  if (op === "tags" && last === "list") return { kind: "tags", name };
  if (op === "manifests") return { kind: "manifest", name, reference: last };
  if (op === "blobs") return { kind: "blob", name, digest: last };
  if (op === "referrers") return { kind: "referrers", name, digest: last };
  return invalid();
}

function invalid(): OciPath {
  return {
    kind: "invalid",
    message: "Expected /v2/<registry>/<repository>/manifests/<tag or digest> (and blobs, " +
      "tags/list, referrers)",
  };
}
