/** Hand-built component manifests for the pure client functions' tests. */
import type { ComponentManifest, VersionItem } from "../../lib/format/manifest_types.ts";

/** A version item; `entry` "" means "does not exist" (TiUP). */
export function item(extra: Partial<VersionItem> = {}): VersionItem {
  return {
    dependencies: null,
    entry: "bin/tool",
    hashes: { sha256: "00", sha512: "00" },
    length: 1,
    released: "2030-01-01T00:00:00Z",
    url: "/tool.tar.gz",
    yanked: false,
    ...extra,
  };
}

/** A component manifest with the given platforms. */
export function manifest(
  platforms: ComponentManifest["platforms"],
  nightly = "",
): ComponentManifest {
  return {
    _type: "component",
    description: "A tool",
    expires: "2035-01-01T00:00:00Z",
    id: "tool",
    nightly,
    platforms,
    spec_version: "0.1.0",
    version: 1,
  };
}
