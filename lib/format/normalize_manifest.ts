import type { PublicKeyInfo } from "./key_info.ts";
import type {
  AnyManifest,
  ComponentItem,
  ComponentManifest,
  FileHash,
  FileVersion,
  IndexManifest,
  Owner,
  RoleKeys,
  RootManifest,
  SnapshotManifest,
  TimestampManifest,
  VersionItem,
} from "./manifest_types.ts";

/**
 * Copies a manifest's `signed` object keeping exactly the Go struct fields of TIUP-FORMAT.md
 * §1.3: unknown (legacy) fields are dropped, missing booleans become false and missing maps
 * `null` (a nil Go map). The writer builds every new manifest from such a copy, because a TiUP
 * client re-serializes its structs when it caches a manifest and an extra or missing field would
 * break the cached copy's signature (§5.6).
 */
export function normalizeManifest<T extends AnyManifest>(signed: T): T {
  const base = {
    _type: signed._type,
    expires: signed.expires,
    spec_version: signed.spec_version,
    version: signed.version,
  };
  switch (signed._type) {
    case "root": {
      const root = signed as RootManifest;
      const role = (r: RoleKeys): RoleKeys => ({
        keys: keyMap(r.keys),
        threshold: r.threshold,
        url: r.url,
      });
      return {
        ...base,
        roles: {
          index: role(root.roles.index),
          root: role(root.roles.root),
          snapshot: role(root.roles.snapshot),
          timestamp: role(root.roles.timestamp),
        },
      } as RootManifest as T;
    }
    case "index": {
      const index = signed as IndexManifest;
      return {
        ...base,
        components: mapValues(index.components, (c: ComponentItem): ComponentItem => ({
          hidden: c.hidden === true,
          owner: c.owner,
          standalone: c.standalone === true,
          url: c.url,
          yanked: c.yanked === true,
        })),
        default_components: index.default_components === null
          ? null
          : [...index.default_components],
        owners: mapValues(index.owners, (o: Owner): Owner => ({
          keys: keyMap(o.keys),
          name: o.name,
          threshold: o.threshold,
        })),
      } as IndexManifest as T;
    }
    case "component": {
      const component = signed as ComponentManifest;
      return {
        ...base,
        description: component.description,
        id: component.id,
        nightly: component.nightly ?? "",
        platforms: mapValues(
          component.platforms,
          (versions) =>
            mapValues(versions, (v: VersionItem): VersionItem => ({
              dependencies: v.dependencies ? { ...v.dependencies } : null,
              entry: v.entry,
              hashes: { ...v.hashes },
              length: v.length,
              released: v.released,
              url: v.url,
              yanked: v.yanked === true,
            })),
        ),
      } as ComponentManifest as T;
    }
    case "snapshot":
      return {
        ...base,
        meta: mapValues(
          (signed as SnapshotManifest).meta,
          (m: FileVersion): FileVersion => ({ length: m.length, version: m.version }),
        ),
      } as SnapshotManifest as T;
    case "timestamp":
      return {
        ...base,
        meta: mapValues(
          (signed as TimestampManifest).meta,
          (m: FileHash): FileHash => ({ hashes: { ...m.hashes }, length: m.length }),
        ),
      } as TimestampManifest as T;
  }
}

function keyMap(keys: Record<string, PublicKeyInfo>): Record<string, PublicKeyInfo> {
  return mapValues(keys, (k) => ({
    keytype: k.keytype,
    keyval: { public: k.keyval.public },
    scheme: k.scheme,
  }));
}

function mapValues<A, B>(record: Record<string, A>, fn: (value: A) => B): Record<string, B> {
  // Go decodes a JSON null map as nil and writes it back as null; keep an empty map for ours.
  const out: Record<string, B> = {};
  for (const [key, value] of Object.entries(record ?? {})) out[key] = fn(value);
  return out;
}
