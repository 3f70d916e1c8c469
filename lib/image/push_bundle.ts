import { HttpStatusError, UsageError } from "../errors.ts";
import type { ProgressEvent } from "../progress_events.ts";
import { bodyStream, readBytes } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import { MAX_MANIFEST_BYTES } from "./fetch_manifest.ts";
import { readBundleInventory } from "./read_bundle_inventory.ts";
import { blobPath } from "./layout_files.ts";
import { INDEX_TYPES } from "./media_types.ts";
import type { RegistryClient } from "./registry_client.ts";

/** Options for {@linkcode pushBundle}. */
export interface PushBundleOptions {
  /** Repository prefix at the target ("team"): `upstream.test/test/hello` → `team/test/hello`. */
  prefix?: string;
  /** Bytes per PATCH of a chunked upload (default 8 MiB). */
  chunkBytes?: number;
  now?: Date;
  onProgress?: (event: ProgressEvent) => void;
}

/** What {@linkcode pushBundle} did. */
export interface PushReport {
  repositories: number;
  /** Blobs uploaded, mounted from another repository, and already there. */
  uploaded: number;
  mounted: number;
  present: number;
  bytesUploaded: number;
  manifestsPut: number;
}

const PUSH = "pull,push";

/**
 * Loads the verified bundle in `bundle` into a registry: for each repository (its name without
 * the source registry, under `prefix`), every blob is checked first (HEAD) and skipped when
 * present, mounted from a repository this push already filled (OCI distribution spec,
 * cross-repository mount) when possible, else uploaded in chunks (POST, PATCH with
 * Content-Range, PUT ?digest=), an interrupted chunk resumed from the offset the registry
 * reports; then manifests byte for byte, single-image ones before the indexes that name them,
 * and finally the tags. A second push moves no blob.
 */
export async function pushBundle(
  bundle: StorageReader,
  client: RegistryClient,
  options: PushBundleOptions = {},
): Promise<PushReport> {
  const inventory = await readBundleInventory(bundle, options.now ? { now: options.now } : {});
  if (!inventory) throw new UsageError(`Cannot push "${bundle.location}": it holds no images`);
  const chunk = options.chunkBytes ?? 8 * 1024 * 1024;
  const report: PushReport = {
    repositories: 0,
    uploaded: 0,
    mounted: 0,
    present: 0,
    bytesUploaded: 0,
    manifestsPut: 0,
  };
  const pushedIn = new Map<string, string>();
  const total = Object.values(inventory.blobs).reduce((n, s) => n + s, 0);
  let done = 0;
  for (const [name, repo] of Object.entries(inventory.repositories).sort()) {
    const target = [options.prefix, name.slice(name.indexOf("/") + 1)].filter(Boolean).join("/");
    report.repositories++;
    for (const digest of repo.blobs) {
      const size = inventory.blobs[digest]!;
      const outcome = await pushBlob(
        bundle,
        client,
        target,
        digest,
        size,
        pushedIn.get(digest),
        chunk,
      );
      report[outcome]++;
      if (outcome === "uploaded") report.bytesUploaded += size;
      pushedIn.set(digest, target);
      done += size;
      options.onProgress?.({
        filesDone: report.uploaded + report.mounted + report.present,
        bytesDone: done,
        bytesTotal: total,
        current: digest,
      });
    }
    const manifests = [...repo.manifests].sort((a, b) =>
      Number(INDEX_TYPES.has(inventory.manifests[a]!.mediaType)) -
      Number(INDEX_TYPES.has(inventory.manifests[b]!.mediaType))
    );
    for (const digest of manifests) {
      if (
        await putManifest(
          bundle,
          client,
          target,
          digest,
          digest,
          inventory.manifests[digest]!.mediaType,
        )
      ) {
        report.manifestsPut++;
      }
    }
    for (const [tag, digest] of Object.entries(repo.tags).sort()) {
      if (
        await putManifest(
          bundle,
          client,
          target,
          tag,
          digest,
          inventory.manifests[digest]!.mediaType,
        )
      ) {
        report.manifestsPut++;
      }
    }
  }
  return report;
}

async function pushBlob(
  bundle: StorageReader,
  client: RegistryClient,
  repository: string,
  digest: string,
  size: number,
  mountFrom: string | undefined,
  chunk: number,
): Promise<"uploaded" | "mounted" | "present"> {
  const head = await client.request({
    method: "HEAD",
    repository,
    actions: PUSH,
    path: `/v2/${repository}/blobs/${digest}`,
  });
  if (head.ok) return "present";
  const mount = mountFrom === undefined
    ? ""
    : `?mount=${digest}&from=${encodeURIComponent(mountFrom)}`;
  const start = await client.request({
    method: "POST",
    repository,
    actions: PUSH,
    path: `/v2/${repository}/blobs/uploads/${mount}`,
  });
  await start.body?.cancel().catch(() => {});
  if (start.status === 201) return "mounted";
  if (start.status !== 202) throw new HttpStatusError(`${repository} blob upload`, start.status);
  let location = uploadPath(start, repository);
  const reader = bodyStream(await bundle.read(blobPath(digest))).getReader();
  let offset = 0;
  let pending: Uint8Array = new Uint8Array(0);
  const flush = async (bytes: Uint8Array) => {
    for (let attempt = 0;; attempt++) {
      const response = await client.request({
        method: "PATCH",
        repository,
        actions: PUSH,
        path: location,
        body: bytes,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${offset}-${offset + bytes.length - 1}`,
          "content-length": String(bytes.length),
        },
      });
      await response.body?.cancel().catch(() => {});
      if (response.status === 202) {
        location = uploadPath(response, repository);
        offset += bytes.length;
        return;
      }
      if (attempt > 0) throw new HttpStatusError(`${repository} blob chunk`, response.status);
      // Resumable upload: ask the session how far it got, and send the rest of this chunk.
      const status = await client.request({
        method: "GET",
        repository,
        actions: PUSH,
        path: location,
      });
      await status.body?.cancel().catch(() => {});
      const got = /^0-(\d+)$/.exec(status.headers.get("range") ?? "");
      if (status.status !== 204 || !got) {
        throw new HttpStatusError(`${repository} blob chunk`, response.status);
      }
      location = uploadPath(status, repository);
      const reached = Number(got[1]) + 1;
      bytes = bytes.subarray(reached - offset);
      offset = reached;
      if (bytes.length === 0) return;
    }
  };
  while (true) {
    const { done, value } = await reader.read();
    if (value) pending = concat(pending, value);
    while (pending.length >= chunk || (done && pending.length > 0)) {
      const piece = pending.subarray(0, Math.min(chunk, pending.length));
      await flush(piece.slice());
      pending = pending.subarray(piece.length);
    }
    if (done) break;
  }
  const separator = location.includes("?") ? "&" : "?";
  const finish = await client.request({
    method: "PUT",
    repository,
    actions: PUSH,
    path: `${location}${separator}digest=${digest}`,
    headers: { "content-length": "0" },
    body: new Uint8Array(0),
  });
  await finish.body?.cancel().catch(() => {});
  if (finish.status !== 201) {
    throw new HttpStatusError(`${repository} blob ${digest}`, finish.status);
  }
  if (offset !== size) {
    throw new HttpStatusError(`${repository} blob ${digest} (short)`, finish.status);
  }
  return "uploaded";
}

/** PUTs a manifest under `reference` unless the registry already has those bytes there. */
async function putManifest(
  bundle: StorageReader,
  client: RegistryClient,
  repository: string,
  reference: string,
  digest: string,
  mediaType: string,
): Promise<boolean> {
  const head = await client.request({
    method: "HEAD",
    repository,
    actions: PUSH,
    path: `/v2/${repository}/manifests/${reference}`,
    headers: { accept: mediaType },
  });
  if (head.ok && head.headers.get("docker-content-digest") === digest) return false;
  const bytes = await readBytes(bundle, blobPath(digest), { maxBytes: MAX_MANIFEST_BYTES });
  const response = await client.request({
    method: "PUT",
    repository,
    actions: PUSH,
    path: `/v2/${repository}/manifests/${reference}`,
    headers: { "content-type": mediaType },
    body: bytes,
  });
  const text = await response.text().catch(() => "");
  if (response.status !== 201) {
    throw new HttpStatusError(
      `${repository}:${reference} (${text.slice(0, 200)})`,
      response.status,
    );
  }
  return true;
}

/** The upload session's Location as a path below the registry's origin. */
function uploadPath(response: Response, repository: string): string {
  const location = response.headers.get("location");
  if (!location) throw new HttpStatusError(`${repository} upload (no Location)`, response.status);
  const url = new URL(location, "http://registry.invalid");
  return `${url.pathname}${url.search}`;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
