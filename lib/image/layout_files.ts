/**
 * The OCI image layout files of a bundle (OCI image spec, "image-layout"): `oci-layout`,
 * `index.json` with one descriptor per tag named by `org.opencontainers.image.ref.name`, and
 * content-addressed `blobs/sha256/<hex>` that hold manifests, configs and layers alike.
 *
 * @module
 */
import { canonicalJson } from "../format/canonical_json.ts";
import type { Inventory } from "./inventory.ts";
import { OCI_INDEX } from "./media_types.ts";

export const OCI_LAYOUT_PATH = "oci-layout";
export const LAYOUT_INDEX_PATH = "index.json";
export const OCI_LAYOUT_TEXT = '{"imageLayoutVersion":"1.0.0"}';
/** OCI image spec annotation: the name skopeo's `oci:DIR:NAME` and podman look images up by. */
export const REF_NAME = "org.opencontainers.image.ref.name";

/** Where a blob or manifest with `digest` ("sha256:<hex>") lives in the layout. */
export function blobPath(digest: string): string {
  return `blobs/sha256/${digest.slice("sha256:".length)}`;
}

/**
 * The layout's `index.json` for what `inventory` lists: one descriptor per tag, named
 * `REGISTRY/REPOSITORY:TAG`, in name order so that equal bundles have equal bytes.
 */
export function layoutIndexBytes(inventory: Inventory): Uint8Array {
  const manifests = [];
  for (const name of Object.keys(inventory.repositories).sort()) {
    const repository = inventory.repositories[name]!;
    for (const tag of Object.keys(repository.tags).sort()) {
      const digest = repository.tags[tag]!;
      const manifest = inventory.manifests[digest]!;
      manifests.push({
        mediaType: manifest.mediaType,
        digest,
        size: manifest.size,
        annotations: { [REF_NAME]: `${name}:${tag}` },
      });
    }
  }
  // canonicalJson sorts keys; the spec does not care, and the bytes are then reproducible.
  return new TextEncoder().encode(
    canonicalJson({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }) + "\n",
  );
}
