/**
 * Where the proxy keeps things in its Storage. Content is addressed by digest (shared by every
 * registry and repository that has it); tag answers are per registry, repository, tag and Accept
 * class. Every component is checked by the router's grammar before it gets here, so no key can
 * contain "..", "." or an empty segment.
 *
 * ```
 * blobs/sha256/ab/ab12…             layer and config bytes
 * manifests/sha256/ab/ab12…         "<media type>\n" + the manifest's exact bytes
 * tags/<registry>/<repo>/_tag/<tag>/accept-<16 hex>           JSON TagRecord of one Accept class
 * tags/<registry>/<repo>/_list                                 the last full tags/list answer
 * leases/blobs/sha256/ab/ab12…      who is fetching a cold blob (shared caches: blob_election.ts)
 * ```
 *
 * @module
 */
export const cacheKeys = {
  /** The object holding a blob's bytes. */
  blob(digest: string): string {
    const [algorithm, hex = ""] = digest.split(":");
    return `blobs/${algorithm}/${hex.slice(0, 2)}/${hex}`;
  },
  /** The lease of the replica fetching a blob into a shared cache (never evicted or served). */
  blobLease(digest: string): string {
    return `leases/${cacheKeys.blob(digest)}`;
  },
  /** The object holding a manifest's media type and bytes. */
  manifest(digest: string): string {
    const [algorithm, hex = ""] = digest.split(":");
    return `manifests/${algorithm}/${hex.slice(0, 2)}/${hex}`;
  },
  /** The folder of one tag's answers, one object per Accept class. */
  tagFolder(registry: string, repository: string, tag: string): string {
    return `tags/${registry}/${repository}/_tag/${tag}/`;
  },
  /** The last full `tags/list` body of a repository (a repository segment never starts with _). */
  tagList(registry: string, repository: string): string {
    return `tags/${registry}/${repository}/_list`;
  },
  /** One tag answer for one Accept class (its `key`, "accept-" + hex: always a safe segment). */
  tag(registry: string, repository: string, tag: string, acceptKey: string): string {
    return `${cacheKeys.tagFolder(registry, repository, tag)}${acceptKey}`;
  },
  /** Reads the digest back from a blob or manifest key; undefined for other keys. */
  digestOf(key: string): string | undefined {
    const match = /^(?:blobs|manifests)\/(sha256|sha512)\/[0-9a-f]{2}\/([0-9a-f]+)$/.exec(key);
    return match ? `${match[1]}:${match[2]}` : undefined;
  },
};
