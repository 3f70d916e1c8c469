/**
 * What a client's Accept header lets it be answered with, for manifests. A registry answers a tag
 * by the Accept header (Distribution gives a client that accepts no list the linux/amd64 manifest
 * of a multi-platform image), so the proxy keeps one tag answer per Accept class and never hands
 * one class's answer to a client the upstream would have answered differently.
 *
 * @module
 */
import { createHash } from "node:crypto";

export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json";
export const DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/** Multi-platform types: an answer of one of these names a manifest per platform. */
export const INDEX_TYPES: ReadonlySet<string> = new Set([OCI_INDEX, DOCKER_LIST]);

/** Every manifest type the proxy caches by tag. */
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([
  OCI_INDEX,
  DOCKER_LIST,
  OCI_MANIFEST,
  DOCKER_MANIFEST,
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
]);

/** One Accept class: the manifest types a client takes, and a storage-safe name for the class. */
export interface AcceptClass {
  /** The Accept header's media types, parameters dropped, sorted, joined by ",". */
  canonical: string;
  /** A short name for storage keys: "accept-" + 16 hex digits. */
  key: string;
  /** The manifest types a client of this class may be answered with. */
  types: ReadonlySet<string>;
  /** The index/list types among `types` (none for an empty Accept: registries then downgrade). */
  indexTypes: ReadonlySet<string>;
}

/**
 * The Accept class of a header: `acceptClass("application/vnd.oci.image.index.v1+json, …")`.
 * A wildcard accepts every manifest type; an empty header is answered as a registry answers old
 * clients (any single-platform type, no index).
 */
export function acceptClass(header: string | undefined): AcceptClass {
  const listed = [...new Set(parseAccept(header))].sort();
  const canonical = listed.join(",");
  const wildcard = listed.some((t) => t === "*/*" || t === "application/*");
  const types = listed.length === 0 || wildcard
    ? new Set(MANIFEST_TYPES)
    : new Set(listed.filter((t) => MANIFEST_TYPES.has(t)));
  const indexTypes = new Set(
    listed.length === 0 ? [] : [...types].filter((t) => INDEX_TYPES.has(t)),
  );
  const hex = createHash("sha256").update(canonical).digest("hex").slice(0, 16);
  return { canonical, key: `accept-${hex}`, types, indexTypes };
}

/** The media types of an Accept header, parameters dropped, lower-cased, in order. */
export function parseAccept(header: string | undefined): string[] {
  if (!header) return [];
  return header.split(",").map((part) => bareType(part)).filter((t) => t !== "");
}

/** A media type without its parameters, lower-cased: "text/html; charset=utf-8" → "text/html". */
export function bareType(value: string): string {
  return (value.split(";")[0] ?? "").trim().toLowerCase();
}
