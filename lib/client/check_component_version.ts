import { checkId } from "./_check_id.ts";

/**
 * Checks a component version ("v0.0.1", "nightly", "v8.5.0-alpha+build.1") before it becomes a
 * directory (`components/<name>/<version>`) or part of a tarball name. Allowed: letters,
 * digits, ".", "_", "+" and "-", starting with a letter or digit, no "..", at most 128
 * characters. Returns the version unchanged; throws UsageError (exit code 2) otherwise.
 *
 * @example
 * ```ts
 * checkComponentVersion("v0.0.1"); // "v0.0.1"
 * checkComponentVersion("v1 2");   // throws UsageError
 * ```
 */
export function checkComponentVersion(version: string, what = "version"): string {
  checkId(version, what, /^[A-Za-z0-9][A-Za-z0-9._+-]*$/, '"." "_" "+" and "-"');
  return version;
}
