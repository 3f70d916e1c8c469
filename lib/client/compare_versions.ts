import semver from "semver";

/**
 * Orders component versions oldest first: versions that parse as semver (leniently, so "v1.0.0"
 * works) in semver order, then the others ("nightly", "master") by name. A total order, ties
 * broken by the raw string, so sorting is stable across runs.
 *
 * @example
 * ```ts
 * ["v1.10.0", "nightly", "v1.2.0"].sort(compareVersions); // ["v1.2.0", "v1.10.0", "nightly"]
 * ```
 */
export function compareVersions(a: string, b: string): number {
  const va = semver.valid(a, { loose: true });
  const vb = semver.valid(b, { loose: true });
  if (va && vb) return semver.compare(va, vb) || (a < b ? -1 : a > b ? 1 : 0);
  if (va) return -1;
  if (vb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
