/**
 * Pushes small artifacts straight to a registry without auth (the rig's read-write upstream):
 * blobs by monolithic upload, manifests by tag or digest. What oras or cosign would push, for
 * the tests that check signatures and referrers travel.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The OCI digest of bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** POST + PUT a blob (OCI distribution spec, monolithic upload); returns its digest. */
export async function pushBlob(base: string, repo: string, bytes: Uint8Array): Promise<string> {
  const digest = sha256Digest(bytes);
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await start.body?.cancel();
  if (start.status !== 202) throw new Error(`upload start answered ${start.status}`);
  const location = new URL(start.headers.get("location")!, base);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  await put.body?.cancel();
  if (put.status !== 201) throw new Error(`blob PUT answered ${put.status}`);
  return digest;
}

/** PUT a manifest under `reference` (a tag or its digest); returns its digest. */
export async function pushManifest(
  base: string,
  repo: string,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<string> {
  const response = await fetch(`${base}/v2/${repo}/manifests/${reference}`, {
    method: "PUT",
    headers: { "content-type": mediaType },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`manifest PUT answered ${response.status}: ${text}`);
  return sha256Digest(bytes);
}

/**
 * An OCI 1.1 artifact that refers to `subject` (an SBOM, say): an empty config, one layer, the
 * subject descriptor. Pushed by digest and, as clients of registries without the referrers API
 * do, listed in the `sha256-<hex>` fallback tag's index. Returns the artifact's digest.
 */
export async function pushReferrer(
  base: string,
  repo: string,
  subject: { digest: string; size: number; mediaType: string },
  artifactType: string,
  content: string,
): Promise<string> {
  const encoder = new TextEncoder();
  const config = encoder.encode("{}");
  const layer = encoder.encode(content);
  await pushBlob(base, repo, config);
  const layerDigest = await pushBlob(base, repo, layer);
  const manifest = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType,
    config: {
      mediaType: "application/vnd.oci.empty.v1+json",
      digest: sha256Digest(config),
      size: config.length,
    },
    layers: [{ mediaType: "text/plain", digest: layerDigest, size: layer.length }],
    subject,
    annotations: { "org.example.note": "test referrer" },
  }));
  const type = "application/vnd.oci.image.manifest.v1+json";
  const digest = await pushManifest(base, repo, sha256Digest(manifest), manifest, type);
  const index = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{ mediaType: type, digest, size: manifest.length, artifactType }],
  }));
  await pushManifest(
    base,
    repo,
    `sha256-${subject.digest.slice("sha256:".length)}`,
    index,
    "application/vnd.oci.image.index.v1+json",
  );
  return digest;
}
