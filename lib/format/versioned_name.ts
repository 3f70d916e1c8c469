/**
 * TiUP's file naming (TIUP-FORMAT.md §1.4): all files live flat in the mirror root; versioned
 * manifests put `<N>.` before the last segment of their URL.
 */

/** "/index.json", 42 → "42.index.json" (a storage path, no leading slash). */
export function versionedPath(url: string, version: number): string {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new RangeError(`Invalid manifest version ${version}`);
  }
  const path = url.replace(/^\/+/, "");
  const slash = path.lastIndexOf("/");
  return `${path.slice(0, slash + 1)}${version}.${path.slice(slash + 1)}`;
}

/** A component's unversioned manifest URL: "tidb" → "/tidb.json". */
export function componentUrl(name: string): string {
  return `/${name}.json`;
}

/** TiUP's tarball name: `<name>-<version>-<os>-<arch>.tar.gz`. */
export function tarballName(name: string, version: string, os: string, arch: string): string {
  return `${name}-${version}-${os}-${arch}.tar.gz`;
}

/** Strips the leading "/" from a manifest URL to get its storage path. */
export function urlToPath(url: string): string {
  return url.replace(/^\/+/, "");
}
