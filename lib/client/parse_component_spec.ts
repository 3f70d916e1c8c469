import { printable, UsageError } from "../errors.ts";
import { checkComponentName } from "./check_component_name.ts";
import { checkComponentVersion } from "./check_component_version.ts";

/** A parsed `name[:version]`. */
export interface ComponentSpec {
  name: string;
  /** Absent when the spec names no version ("latest installed, else latest stable"). */
  version?: string;
}

/**
 * Parses a component spec as `ferry install` / `ferry <component>` take it: `hello` or
 * `hello:v0.0.1` (TiUP's `name[:version]`). Both parts are checked with checkComponentName and
 * checkComponentVersion. Throws UsageError for `hello:`, `:v1`, `a:b:c` or bad characters.
 *
 * @example
 * ```ts
 * parseComponentSpec("hello:v0.0.1"); // { name: "hello", version: "v0.0.1" }
 * parseComponentSpec("hello");        // { name: "hello" }
 * ```
 */
export function parseComponentSpec(spec: string): ComponentSpec {
  const parts = spec.split(":");
  if (parts.length > 2) {
    throw new UsageError(
      `Cannot parse component "${printable(spec)}": use name or name:version (one ":")`,
    );
  }
  const [name = "", version] = parts;
  if (name === "") {
    throw new UsageError(
      `Cannot parse component "${printable(spec)}": the name before ":" is empty`,
    );
  }
  if (version === "") {
    throw new UsageError(
      `Cannot parse component "${
        printable(spec)
      }": the version after ":" is empty (drop the ":" for the latest version)`,
    );
  }
  checkComponentName(name);
  if (version === undefined) return { name };
  checkComponentVersion(version);
  return { name, version };
}
