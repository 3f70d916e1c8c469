/**
 * A registry in memory for the image unit tests: manifests by tag and digest, blobs by digest,
 * per repository, answered through the RegistryClient interface the image operations take.
 * `tamper` lets a test turn it hostile (wrong bytes for a blob) without a server.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { RegistryClient, RegistryRequest } from "../../lib/image/registry_client.ts";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

/** The OCI digest of bytes. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A registry of repositories in memory. */
export class MemoryRegistry implements RegistryClient {
  readonly blobs = new Map<string, Uint8Array>();
  readonly manifests = new Map<string, { bytes: Uint8Array; type: string }>();
  readonly tags = new Map<string, string>();
  /** Every request, as "GET /v2/…". */
  readonly requests: string[] = [];
  /** Replaces the bytes of a blob answer (a hostile registry). */
  tamper?: (digest: string, bytes: Uint8Array) => Uint8Array;

  /** Stores a blob; returns its descriptor. */
  blob(text: string, mediaType = "application/vnd.oci.image.layer.v1.tar") {
    const bytes = new TextEncoder().encode(text);
    const digest = digestOf(bytes);
    this.blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** Stores a manifest under `repo:tag` (and its digest); returns its descriptor. */
  manifest(repo: string, tag: string | undefined, value: unknown, type = OCI_MANIFEST) {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    const digest = digestOf(bytes);
    this.manifests.set(digest, { bytes, type });
    if (tag !== undefined) this.tags.set(`${repo}:${tag}`, digest);
    return { mediaType: type, digest, size: bytes.length };
  }

  /** An image of one config and one layer with `text` in it, tagged `repo:tag`. */
  image(repo: string, tag: string | undefined, text: string) {
    const config = this.blob(`{"config":"${text}"}`, "application/vnd.oci.image.config.v1+json");
    const layer = this.blob(`layer ${text}`);
    return this.manifest(repo, tag, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config,
      layers: [layer],
    });
  }

  // deno-lint-ignore require-await
  async request(request: RegistryRequest): Promise<Response> {
    this.requests.push(`${request.method} ${request.path}`);
    const match = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(request.path);
    if (!match) return new Response("not found", { status: 404 });
    const [, repo, kind, reference] = match as unknown as [string, string, string, string];
    if (kind === "manifests") {
      const digest = reference.startsWith("sha256:")
        ? reference
        : this.tags.get(`${repo}:${reference}`);
      const manifest = digest === undefined ? undefined : this.manifests.get(digest);
      if (!manifest) return new Response("{}", { status: 404 });
      return new Response(manifest.bytes as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": manifest.type },
      });
    }
    if (kind === "blobs") {
      const bytes = this.blobs.get(reference);
      if (!bytes) return new Response("{}", { status: 404 });
      const sent = this.tamper?.(reference, bytes) ?? bytes;
      return new Response(sent as Uint8Array<ArrayBuffer>, {
        headers: { "content-length": String(sent.length) },
      });
    }
    return new Response("{}", { status: 404 });
  }
}
