/** How many blob sizes (and manifests already read) are remembered; the oldest go first. */
const MAX_ENTRIES = 100_000;

/** Where a manifest or blob was asked for: sizes are trusted only within one repository. */
export interface RepositoryRef {
  registry: string;
  repository: string;
}

/**
 * The sizes manifests declare for the blobs they refer to (config and layers), learned from
 * the manifests the proxy serves, per registry and repository (so that one upstream's manifest
 * cannot shrink the cap of another's blob). A client pulls a manifest before its blobs, so a cold
 * blob download usually has a declared size to be capped by, whatever the upstream's headers
 * say. Bounded: it forgets the oldest entries, and a forgotten size only means a looser cap.
 */
export class DeclaredSizes {
  readonly #sizes = new Map<string, number>();
  readonly #read = new Set<string>();

  /** Learns the blob sizes that the manifest `bytes` (with digest `digest`) of `where` declares. */
  note(where: RepositoryRef, digest: string, bytes: Uint8Array): void {
    const manifestKey = keyOf(where, digest);
    if (this.#read.has(manifestKey)) return;
    remember(this.#read, manifestKey);
    let body: { config?: unknown; layers?: unknown };
    try {
      body = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return;
    }
    const descriptors = [body?.config, ...(Array.isArray(body?.layers) ? body.layers : [])];
    for (const descriptor of descriptors) {
      const { digest: blob, size } = (descriptor ?? {}) as { digest?: unknown; size?: unknown };
      if (typeof blob === "string" && Number.isSafeInteger(size) && (size as number) >= 0) {
        const key = keyOf(where, blob);
        this.#sizes.delete(key);
        this.#sizes.set(key, size as number);
        if (this.#sizes.size > MAX_ENTRIES) this.#sizes.delete(this.#sizes.keys().next().value!);
      }
    }
  }

  /** The size a manifest served for `where` declared for blob `digest`, if one did. */
  get(where: RepositoryRef, digest: string): number | undefined {
    return this.#sizes.get(keyOf(where, digest));
  }
}

function keyOf(where: RepositoryRef, digest: string): string {
  return `${where.registry}/${where.repository}@${digest}`;
}

function remember(set: Set<string>, value: string): void {
  set.add(value);
  if (set.size > MAX_ENTRIES) set.delete(set.values().next().value!);
}
