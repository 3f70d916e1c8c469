/**
 * Cache-Control for a mirror path. Versioned manifests (`N.name.json`) and versioned tarballs
 * (`name-version-os-arch.tar.gz`) never change once written, so caches may keep them forever;
 * the top-level manifests (`root.json`, `snapshot.json`, `timestamp.json`) and unversioned copies
 * (`tiup-linux-amd64.tar.gz`, install scripts) change in place and must be revalidated.
 */
export function cacheControlFor(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (/^\d+\.[^/]+\.json$/.test(name) || isVersionedTarball(name)) {
    return "public, max-age=31536000, immutable";
  }
  return "no-cache";
}

function isVersionedTarball(name: string): boolean {
  // TiUP's naming: <component>-<version>-<os>-<arch>.tar.gz, version like v1.2.3 or nightly-…
  return /^.+-(v?\d[^/]*|[^/]*nightly[^/]*)-[a-z0-9]+-[a-z0-9_]+\.tar\.gz$/.test(name);
}

const CONTENT_TYPES: Array<[RegExp, string]> = [
  [/\.json$/, "application/json"],
  [/\.(tar\.gz|tgz)$/, "application/gzip"],
  [/\.sh$/, "text/x-shellscript; charset=utf-8"],
  [/\.(txt|md)$/, "text/plain; charset=utf-8"],
  [/\.html?$/, "text/html; charset=utf-8"],
  [/\.pem$/, "application/x-pem-file"],
];

/** The Content-Type for a file name, application/octet-stream when unknown. */
export function contentTypeFor(path: string): string {
  for (const [pattern, type] of CONTENT_TYPES) if (pattern.test(path)) return type;
  return "application/octet-stream";
}
