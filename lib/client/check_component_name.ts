import { checkId } from "./_check_id.ts";

/**
 * Checks a component name ("hello", "tidb-lightning", "node_exporter") before it becomes a
 * directory (`components/<name>`) or part of a tarball name (`<name>-<version>-<os>-<arch>.tar.gz`).
 * Allowed: letters, digits, ".", "_" and "-", starting with a letter or digit, no "..", at most
 * 128 characters — so no "/", whitespace, control characters or path tricks can get through.
 * Returns the name unchanged; throws UsageError (exit code 2) otherwise.
 *
 * @example
 * ```ts
 * checkComponentName("hello"); // "hello"
 * checkComponentName("../x");  // throws UsageError
 * ```
 */
export function checkComponentName(name: string, what = "component name"): string {
  checkId(name, what, /^[A-Za-z0-9][A-Za-z0-9._-]*$/, '"." "_" and "-"');
  return name;
}
