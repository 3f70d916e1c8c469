/** Small builders for component manifests in clone tests. */
import type { ComponentManifest, VersionItem } from "../../../lib/format/manifest_types.ts";

/** A version item for `id version os/arch` with a made-up hash derived from its name. */
export function item(
  id: string,
  version: string,
  platform: string,
  extra: Partial<VersionItem> = {},
): VersionItem {
  const name = `${id}-${version}-${platform.replace("/", "-")}.tar.gz`;
  const sha = Array.from(name).reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7)
    .toString(16).padStart(8, "0").repeat(8);
  return {
    dependencies: null,
    entry: id,
    hashes: { sha256: sha, sha512: sha + sha },
    length: 100 + name.length,
    released: "2026-01-01T00:00:00Z",
    url: `/${name}`,
    yanked: false,
    ...extra,
  };
}

/** A component manifest with the given versions on the given platforms. */
export function component(
  id: string,
  platforms: Record<string, Array<string | [string, Partial<VersionItem>]>>,
  extra: Partial<ComponentManifest> = {},
): ComponentManifest {
  const out: ComponentManifest["platforms"] = {};
  for (const [platform, versions] of Object.entries(platforms)) {
    out[platform] = {};
    for (const entry of versions) {
      const [version, overrides] = typeof entry === "string" ? [entry, {}] : entry;
      out[platform]![version] = item(id, version, platform, overrides);
    }
  }
  return {
    _type: "component",
    description: `${id} component`,
    expires: "2031-01-01T00:00:00Z",
    id,
    nightly: "",
    platforms: out,
    spec_version: "0.1.0",
    version: 3,
    ...extra,
  };
}
