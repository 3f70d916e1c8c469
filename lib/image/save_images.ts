import { DownloadError, NotFoundError, VerificationError } from "../errors.ts";
import type { ProgressEvent } from "../progress_events.ts";
import { forEachLimited } from "../for_each_limited.ts";
import { acquireMirrorLock } from "../writer/mirror_lock.ts";
import { addDays, formatRfc3339 } from "../format/rfc3339.ts";
import { downloadFiles, type FileTask } from "../mirror/clone/download_files.ts";
import type { Storage } from "../storage/storage.ts";
import { openBundleSigner } from "./bundle_keys.ts";
import { type FetchedManifest, fetchManifest } from "./fetch_manifest.ts";
import { type ImageReference, storedName } from "./image_reference.ts";
import { emptyInventory, encodeInventory, type Inventory } from "./inventory.ts";
import { blobPath } from "./layout_files.ts";
import type { Descriptor } from "./manifest_refs.ts";
import { readBundleInventory } from "./read_bundle_inventory.ts";
import { RegistryBlobSource } from "./registry_blob_source.ts";
import type { RegistryClients } from "./registry_client.ts";
import { writeBundleIndex } from "./_write_bundle_index.ts";

/** Options for {@linkcode saveImages}. */
export interface SaveImagesOptions {
  clients: RegistryClients;
  /** "linux/amd64", "linux/arm/v7": only these platforms of a multi-arch image (default all). */
  platforms?: string[];
  /** Parallel blob downloads (default 8). */
  jobs?: number;
  now?: Date;
  /** How long the signed inventory is valid (default 365 days). */
  expiryDays?: number;
  onProgress?: (event: ProgressEvent) => void;
  /** One line per saved image, for the human. */
  onNote?: (line: string) => void;
  signal?: AbortSignal;
}

/** One image saved. */
export interface SavedImage {
  name: string;
  reference: string;
  digest: string;
}

/** What {@linkcode saveImages} did. */
export interface SaveReport {
  images: SavedImage[];
  /** Signatures, attestations and referrers that came along. */
  extras: SavedImage[];
  manifests: number;
  blobsDownloaded: number;
  blobsPresent: number;
  bytesDownloaded: number;
  inventoryVersion: number;
  /** True when the directory was empty and became a new bundle (a fresh root of trust). */
  created: boolean;
}

/** cosign's tag scheme for what belongs to a digest: `sha256-<hex>.sig` and friends. */
const COSIGN_SUFFIXES = [".sig", ".att", ".sbom"];

interface Collected {
  fetched: FetchedManifest;
  names: Set<string>;
}

/**
 * Saves images into the bundle in `storage` (an OCI image layout that is also a TiUP mirror):
 *
 * - manifests are fetched byte for byte and stored under their own digest, never converted, so
 *   digests and signatures stay valid; a multi-arch index brings every platform (or only
 *   `platforms`); cosign's `sha256-<digest>.sig/.att/.sbom` tags and OCI referrers (the
 *   referrers API, else its `sha256-<digest>` fallback tag) of every manifest come along;
 * - blobs are shared: one that is already in the bundle (by its size under its digest) is not
 *   fetched again, so a save into an existing bundle fetches only what is missing and a killed
 *   save resumes blob by blob;
 * - every blob is verified against its digest and size while it streams and appears under
 *   `blobs/sha256/` only when it matched; manifests are written after all blobs, then
 *   `index.json`, then the signed inventory: until that last write, readers see the old bundle;
 * - the inventory is merged with the bundle's current one (verified first), its version
 *   raised, and signed with the bundle's index keys.
 */
export async function saveImages(
  storage: Storage,
  images: readonly ImageReference[],
  options: SaveImagesOptions,
): Promise<SaveReport> {
  const now = options.now ?? new Date();
  const signer = await openBundleSigner(storage, { now });
  const lock = await acquireMirrorLock(storage, { now });
  try {
    const current = await readBundleInventory(storage, { now });
    const collected = new Map<string, Collected>();
    const saved: SavedImage[] = [];
    const extras: SavedImage[] = [];
    const tags: Array<{ name: string; tag: string; digest: string }> = [];
    const probed = new Set<string>();

    const add = (name: string, fetched: FetchedManifest) => {
      const seen = collected.get(fetched.digest);
      if (seen) seen.names.add(name);
      else collected.set(fetched.digest, { fetched, names: new Set([name]) });
    };
    /** A manifest, its platform children and everything that refers to it. */
    const collect = async (image: ImageReference, fetched: FetchedManifest) => {
      const name = storedName(image);
      add(name, fetched);
      const children = fetched.refs.children.filter((c) => wantedPlatform(c, options.platforms));
      await Promise.all(children.map(async (child) => {
        const got = await requireManifest(options.clients, image, child.digest);
        if (got.bytes.length !== child.size) {
          throw new VerificationError(
            `Cannot accept ${name}@${child.digest}: it is ${got.bytes.length} bytes, its index ` +
              `says ${child.size}`,
          );
        }
        await collect(image, got);
      }));
      await collectReferrers(image, fetched.digest);
    };
    const collectReferrers = async (image: ImageReference, digest: string) => {
      const name = storedName(image);
      if (probed.has(`${name}@${digest}`)) return;
      probed.add(`${name}@${digest}`);
      const client = options.clients(image.registry);
      const base = `sha256-${digest.slice("sha256:".length)}`;
      for (const tag of [...COSIGN_SUFFIXES.map((s) => base + s), base]) {
        const got = await fetchManifest(client, image.repository, tag, `${name}:${tag}`);
        if (!got) continue;
        tags.push({ name, tag, digest: got.digest });
        extras.push({ name, reference: tag, digest: got.digest });
        await collect(image, got);
      }
      for (const referrer of await listReferrers(client, image.repository, digest)) {
        if (collected.has(referrer.digest)) continue;
        const got = await requireManifest(options.clients, image, referrer.digest);
        extras.push({ name, reference: referrer.digest, digest: got.digest });
        await collect(image, got);
      }
    };

    await forEachLimited(images, 4, async (image) => {
      const reference = image.digest ?? image.tag ?? "latest";
      const got = await requireManifest(options.clients, image, reference);
      if (image.tag !== undefined) {
        tags.push({ name: storedName(image), tag: image.tag, digest: got.digest });
      }
      saved.push({ name: storedName(image), reference, digest: got.digest });
      await collect(image, got);
    }, options.signal ? { signal: options.signal } : {});

    // Blobs first: each verified while it streams, visible only once it matched.
    const blobs = new Map<string, { size: number; names: Set<string>; source: string }>();
    for (const { fetched, names } of collected.values()) {
      for (const blob of fetched.refs.blobs) {
        const [first] = names;
        const entry = blobs.get(blob.digest) ??
          {
            size: blob.size,
            names: new Set<string>(),
            source: sourcePath(first!, blob.digest),
          };
        for (const name of names) entry.names.add(name);
        blobs.set(blob.digest, entry);
      }
    }
    const tasks: FileTask[] = [];
    let present = 0;
    for (const [digest, blob] of blobs) {
      const stat = await storage.stat(blobPath(digest)).catch((error) => {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      });
      if (stat?.size === blob.size) {
        present++;
        continue;
      }
      tasks.push({
        path: blobPath(digest),
        sourcePath: blob.source,
        expected: [{ length: blob.size, sha256: digest.slice("sha256:".length) }],
      });
    }
    const download = await downloadFiles(new RegistryBlobSource(options.clients), storage, tasks, {
      overwrite: true,
      ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const firstFailure = download.failed[0];
    if (firstFailure) throw firstFailure.error;
    if (download.missing.length > 0) {
      throw new DownloadError(
        `Cannot save: the registry has no blob ${download.missing[0]} that a manifest names`,
      );
    }

    // Then the manifests, then index.json and the signed inventory.
    for (const [digest, { fetched }] of collected) {
      const path = blobPath(digest);
      const stat = await storage.stat(path).catch(() => undefined);
      if (stat?.size !== fetched.bytes.length) {
        await storage.write(path, fetched.bytes, { deferSync: true });
      }
    }
    const inventory = mergeInventory(current, collected, blobs, tags, {
      expires: formatRfc3339(addDays(now, options.expiryDays ?? 365)),
    });
    await writeBundleIndex(storage, inventory, encodeInventory(inventory, signer.keys));
    for (const image of saved) {
      options.onNote?.(`Saved ${image.name}:${image.reference} ${image.digest}`);
    }
    return {
      images: saved,
      extras,
      manifests: collected.size,
      blobsDownloaded: download.downloaded.length,
      blobsPresent: present,
      bytesDownloaded: download.bytes,
      inventoryVersion: inventory.version,
      created: signer.created,
    };
  } finally {
    await lock.release();
  }
}

async function requireManifest(
  clients: RegistryClients,
  image: ImageReference,
  reference: string,
): Promise<FetchedManifest> {
  const where = `${storedName(image)}${reference.includes(":") ? "@" : ":"}${reference}`;
  const got = await fetchManifest(clients(image.registry), image.repository, reference, where);
  if (!got) throw new NotFoundError(where);
  return got;
}

/** OCI distribution spec: GET /v2/<name>/referrers/<digest>; registries without it answer 404. */
async function listReferrers(
  client: ReturnType<RegistryClients>,
  repository: string,
  digest: string,
): Promise<Descriptor[]> {
  const response = await client.request({
    method: "GET",
    repository,
    path: `/v2/${repository}/referrers/${digest}`,
    headers: { accept: "application/vnd.oci.image.index.v1+json" },
  });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    return [];
  }
  try {
    const body = await response.json() as { manifests?: Descriptor[] };
    return Array.isArray(body.manifests)
      ? body.manifests.filter((d) =>
        typeof d?.digest === "string" && /^sha256:[a-f0-9]{64}$/.test(d.digest)
      )
      : [];
  } catch {
    return [];
  }
}

function sourcePath(name: string, digest: string): string {
  const slash = name.indexOf("/");
  return RegistryBlobSource.pathOf(name.slice(0, slash), name.slice(slash + 1), digest);
}

/** True when a child of an index is one of `platforms` (all when none are asked for). */
function wantedPlatform(child: Descriptor, platforms: string[] | undefined): boolean {
  if (!platforms || platforms.length === 0 || !child.platform) return true;
  const { os, architecture, variant } = child.platform;
  return platforms.some((wanted) => {
    const [o, a, v] = wanted.split("/");
    return o === os && a === architecture && (v === undefined || v === variant);
  });
}

function mergeInventory(
  current: Inventory | undefined,
  collected: Map<string, Collected>,
  blobs: Map<string, { size: number; names: Set<string> }>,
  tags: Array<{ name: string; tag: string; digest: string }>,
  options: { expires: string },
): Inventory {
  const base = current ?? emptyInventory(options.expires);
  const next: Inventory = structuredClone(base);
  next.version = base.version + 1;
  next.expires = options.expires;
  const repository = (name: string) =>
    next.repositories[name] ??= { tags: {}, manifests: [], blobs: [] };
  for (const [digest, { fetched, names }] of collected) {
    const { refs } = fetched;
    next.manifests[digest] = {
      mediaType: refs.mediaType,
      size: fetched.bytes.length,
      ...(refs.subject !== undefined ? { subject: refs.subject } : {}),
      ...(refs.subject !== undefined && refs.artifactType !== undefined
        ? { artifactType: refs.artifactType }
        : {}),
      ...(refs.subject !== undefined && refs.annotations !== undefined
        ? { annotations: refs.annotations }
        : {}),
    };
    for (const name of names) addUnique(repository(name).manifests, digest);
  }
  for (const [digest, { size, names }] of blobs) {
    next.blobs[digest] = size;
    for (const name of names) addUnique(repository(name).blobs, digest);
  }
  for (const { name, tag, digest } of tags) repository(name).tags[tag] = digest;
  for (const repo of Object.values(next.repositories)) {
    repo.manifests.sort();
    repo.blobs.sort();
  }
  return next;
}

function addUnique(list: string[], item: string): void {
  if (!list.includes(item)) list.push(item);
}
