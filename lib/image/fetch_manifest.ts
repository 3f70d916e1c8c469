import { createHash } from "node:crypto";
import { HashMismatchError, HttpStatusError, ManifestFormatError } from "../errors.ts";
import { collectBytes } from "../storage/read_bytes.ts";
import { type ManifestRefs, manifestRefs } from "./manifest_refs.ts";
import { ACCEPT_ALL_MANIFESTS } from "./media_types.ts";
import type { RegistryClient } from "./registry_client.ts";

/** Manifests are small; Distribution caps them at 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A manifest as the registry stores it: its bytes, digest and what it refers to. */
export interface FetchedManifest {
  bytes: Uint8Array;
  digest: string;
  refs: ManifestRefs;
}

/**
 * Fetches one manifest byte for byte (Accept: every type the bundle carries, so no registry
 * converts or downgrades it) and computes its digest from the bytes. A manifest asked for by
 * digest must hash to it (HashMismatchError otherwise). Undefined on 404 (an optional tag such
 * as `sha256-….sig`); any other failure throws HttpStatusError.
 */
export async function fetchManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
  where: string,
): Promise<FetchedManifest | undefined> {
  const response = await client.request({
    method: "GET",
    repository,
    path: `/v2/${repository}/manifests/${reference}`,
    headers: { accept: ACCEPT_ALL_MANIFESTS },
  });
  if (response.status === 404) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new HttpStatusError(where, response.status);
  }
  const bytes = await collectBytes(response.body ?? new ReadableStream(), {
    maxBytes: MAX_MANIFEST_BYTES,
    what: where,
  });
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  if (reference.startsWith("sha256:") && digest !== reference) {
    throw new HashMismatchError(
      `Cannot accept "${where}": its bytes hash to ${digest} (a tampered or converted manifest?)`,
    );
  }
  let refs: ManifestRefs;
  try {
    refs = manifestRefs(bytes, response.headers.get("content-type") ?? undefined);
  } catch (error) {
    throw new ManifestFormatError(`Cannot carry "${where}": ${(error as Error).message}`);
  }
  return { bytes, digest, refs };
}
