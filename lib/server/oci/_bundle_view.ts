import type { Inventory, InventoryManifest } from "../../image/inventory.ts";

/** A stored repository, ready for lookups. */
export interface RepositoryView {
  tags: Readonly<Record<string, string>>;
  manifests: ReadonlySet<string>;
  blobs: ReadonlySet<string>;
}

/** An inventory indexed for serving: repositories by name, referrers by subject. */
export class BundleView {
  readonly inventory: Inventory;
  readonly names: string[];
  readonly registries: Set<string>;
  readonly #repositories = new Map<string, RepositoryView>();
  readonly #referrers = new Map<string, string[]>();

  constructor(inventory: Inventory) {
    this.inventory = inventory;
    for (const [name, repo] of Object.entries(inventory.repositories)) {
      this.#repositories.set(name, {
        tags: repo.tags,
        manifests: new Set(repo.manifests),
        blobs: new Set(repo.blobs),
      });
    }
    this.names = [...this.#repositories.keys()].sort();
    this.registries = new Set(this.names.map((name) => name.slice(0, name.indexOf("/"))));
    for (const [digest, manifest] of Object.entries(inventory.manifests)) {
      if (manifest.subject === undefined) continue;
      const list = this.#referrers.get(manifest.subject) ?? [];
      list.push(digest);
      this.#referrers.set(manifest.subject, list);
    }
  }

  repository(name: string): RepositoryView | undefined {
    return this.#repositories.get(name);
  }

  manifest(digest: string): InventoryManifest | undefined {
    return this.inventory.manifests[digest];
  }

  /** The manifests of repository `name` whose subject is `digest`, in digest order. */
  referrers(name: string, digest: string): string[] {
    const repo = this.#repositories.get(name);
    return (this.#referrers.get(digest) ?? []).filter((d) => repo?.manifests.has(d)).sort();
  }
}
