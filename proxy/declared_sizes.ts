/** How many blob sizes (and manifests already read) are remembered; the oldest go first. */
const MAX_ENTRIES = 100_000;

/**
 * The sizes manifests declare for the blobs they refer to (config and layers), learned from
 * the manifests the proxy serves. A client pulls a manifest before its blobs, so a cold blob
 * download usually has a declared size to be capped by, whatever the upstream's headers say.
 * Bounded: it forgets the oldest entries, and a forgotten size only means a looser cap.
 */
export class DeclaredSizes {
  readonly #sizes = new Map<string, number>();
  readonly #read = new Set<string>();

  /** Learns the blob sizes that the manifest `bytes` (with digest `digest`) declares. */
  note(digest: string, bytes: Uint8Array): void {
    if (this.#read.has(digest)) return;
    remember(this.#read, digest);
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
        this.#sizes.delete(blob);
        this.#sizes.set(blob, size as number);
        if (this.#sizes.size > MAX_ENTRIES) this.#sizes.delete(this.#sizes.keys().next().value!);
      }
    }
  }

  /** The size a served manifest declared for blob `digest`, if one did. */
  get(digest: string): number | undefined {
    return this.#sizes.get(digest);
  }
}

function remember(set: Set<string>, value: string): void {
  set.add(value);
  if (set.size > MAX_ENTRIES) set.delete(set.values().next().value!);
}
