/**
 * The manifest media types an image bundle stores, and the Accept header ferry sends so that a
 * registry answers a tag with exactly what it holds (never a converted or downgraded manifest).
 *
 * @module
 */

export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

/** Multi-platform types: each names one manifest per platform. */
export const INDEX_TYPES: ReadonlySet<string> = new Set([OCI_INDEX, DOCKER_LIST]);

/** The types a bundle carries; schema 1 manifests are refused (their digests are not stable). */
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([
  OCI_INDEX,
  OCI_MANIFEST,
  DOCKER_LIST,
  DOCKER_MANIFEST,
]);

/** Every type at once: the registry then answers a tag with the manifest it stores. */
export const ACCEPT_ALL_MANIFESTS = [...MANIFEST_TYPES].join(", ");

/** An OCI sha256 digest, the only algorithm the layout's blobs/sha256 holds. */
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
