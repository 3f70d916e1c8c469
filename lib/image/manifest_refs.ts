import { INDEX_TYPES, MANIFEST_TYPES, SHA256_DIGEST } from "./media_types.ts";

/** A descriptor a manifest points at: what it is, its digest and size. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** What one manifest refers to. */
export interface ManifestRefs {
  mediaType: string;
  /** Index/list entries: manifests, one per platform (or an artifact). */
  children: Descriptor[];
  /** Config and layers of an image manifest. */
  blobs: Descriptor[];
  /** OCI 1.1 `subject`: the manifest this one is a referrer of. */
  subject?: string;
  /** OCI 1.1 artifact type: `artifactType`, else the config's media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * Reads what a manifest refers to from its bytes. The media type comes from the manifest's own
 * `mediaType` when it has one, else from `declared` (the registry's Content-Type): OCI image
 * spec lets `mediaType` be absent. Throws SyntaxError for anything that is not a manifest of a
 * type the bundle carries, or whose descriptors are not sha256 digests with sizes.
 */
export function manifestRefs(bytes: Uint8Array, declared?: string): ManifestRefs {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new SyntaxError(`Cannot parse a manifest: ${(error as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new SyntaxError("Cannot parse a manifest: it is not a JSON object");
  }
  const own = typeof json.mediaType === "string" ? json.mediaType : undefined;
  const mediaType = own ?? bare(declared) ?? "";
  if (!MANIFEST_TYPES.has(mediaType)) {
    throw new SyntaxError(
      `Cannot carry a manifest of type "${mediaType || "unknown"}": expected an OCI or Docker v2 ` +
        "manifest or index",
    );
  }
  const refs: ManifestRefs = { mediaType, children: [], blobs: [] };
  if (INDEX_TYPES.has(mediaType)) {
    refs.children = descriptors(json.manifests, "manifests");
  } else {
    const config = descriptors(json.config === undefined ? [] : [json.config], "config");
    refs.blobs = [...config, ...descriptors(json.layers ?? [], "layers")];
    const artifact = typeof json.artifactType === "string"
      ? json.artifactType
      : config[0]?.mediaType;
    if (artifact !== undefined) refs.artifactType = artifact;
  }
  if (typeof json.artifactType === "string") refs.artifactType = json.artifactType;
  if (json.subject !== undefined) refs.subject = descriptors([json.subject], "subject")[0]!.digest;
  if (isStringRecord(json.annotations)) refs.annotations = json.annotations;
  return refs;
}

function descriptors(value: unknown, field: string): Descriptor[] {
  if (!Array.isArray(value)) {
    throw new SyntaxError(`Cannot parse a manifest: "${field}" is not a list`);
  }
  return value.map((entry) => {
    const d = entry as Record<string, unknown>;
    if (
      typeof d !== "object" || d === null || typeof d.mediaType !== "string" ||
      typeof d.digest !== "string" || !SHA256_DIGEST.test(d.digest) ||
      typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0
    ) {
      throw new SyntaxError(
        `Cannot parse a manifest: an entry of "${field}" is not a sha256 descriptor with a size`,
      );
    }
    const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    if (typeof d.platform === "object" && d.platform !== null) {
      out.platform = d.platform as NonNullable<Descriptor["platform"]>;
    }
    if (typeof d.artifactType === "string") out.artifactType = d.artifactType;
    if (isStringRecord(d.annotations)) out.annotations = d.annotations;
    return out;
  });
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string");
}

function bare(type: string | undefined): string | undefined {
  if (type === undefined) return undefined;
  return (type.split(";")[0] ?? "").trim().toLowerCase() || undefined;
}
