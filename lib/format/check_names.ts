import { UsageError } from "../errors.ts";
import { RESERVED_OWNER_IDS } from "./repo_defaults.ts";

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/**
 * The names the writer accepts, since each becomes part of a file name in the flat mirror root
 * (`<name>.json`, `<name>-<version>-<os>-<arch>.tar.gz`): letters, digits and `._+-`, starting
 * with a letter or digit, at most 128 characters. Component names and owner IDs may not be a
 * role name (root, index, snapshot, timestamp): TiUP's server forbids such components and the
 * client's key store would let such an owner clobber role keys. Throws UsageError.
 */
export function checkName(kind: "component" | "version" | "owner ID", name: string): string {
  if (typeof name !== "string" || name === "" || name.length > 128 || !SAFE_NAME.test(name)) {
    throw new UsageError(
      `Cannot use ${kind} ${JSON.stringify(name)}: use letters, digits and . _ + - only ` +
        `(starting with a letter or digit)`,
    );
  }
  if (kind !== "version" && RESERVED_OWNER_IDS.includes(name)) {
    throw new UsageError(
      `Cannot use ${kind} "${name}": root, index, snapshot and timestamp are reserved for the ` +
        `mirror's own roles; choose another name`,
    );
  }
  return name;
}
