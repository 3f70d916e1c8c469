import { VerificationError } from "../errors.ts";
import { KEY_SCHEME, KEY_TYPE, keyId } from "../format/key_info.ts";
import type { RootManifest } from "../format/manifest_types.ts";
import { TOP_LEVEL_ROLES } from "../format/repo_defaults.ts";

/**
 * TiUP's `Root.isValid` (TIUP-FORMAT.md §1.3): all four roles present with URL `/<role>.json`,
 * an integer threshold ≥ 1 that the role's keys can meet, every map key equal to the SHA-256 key
 * ID of its KeyInfo, and only rsa / rsassa-pss-sha256 keys. Throws VerificationError naming `file`.
 */
export function checkRoot(root: RootManifest, file: string): void {
  const roles = root.roles as unknown as Record<string, unknown> | null;
  if (typeof roles !== "object" || roles === null) {
    throw new VerificationError(`Cannot use "${file}": it has no "roles"`);
  }
  for (const role of TOP_LEVEL_ROLES) {
    const entry = root.roles[role];
    if (typeof entry !== "object" || entry === null) {
      throw new VerificationError(`Cannot use "${file}": it has no "${role}" role`);
    }
    if (entry.url !== `/${role}.json`) {
      throw new VerificationError(
        `Cannot use "${file}": the ${role} role's url is "${entry.url}", expected "/${role}.json"`,
      );
    }
    const ids = Object.keys(entry.keys ?? {});
    if (!Number.isInteger(entry.threshold) || entry.threshold < 1) {
      throw new VerificationError(
        `Cannot use "${file}": the ${role} role's threshold (${entry.threshold}) is not a positive integer`,
      );
    }
    if (ids.length < entry.threshold) {
      throw new VerificationError(
        `Cannot use "${file}": the ${role} role has ${ids.length} keys but needs ${entry.threshold}`,
      );
    }
    for (const id of ids) {
      const info = entry.keys[id]!;
      if (info?.keytype !== KEY_TYPE || info?.scheme !== KEY_SCHEME) {
        throw new VerificationError(
          `Cannot use "${file}": ${role} key ${id.slice(0, 16)} is not ${KEY_TYPE}/${KEY_SCHEME}`,
        );
      }
      if (typeof info.keyval?.public !== "string" || keyId(info) !== id) {
        throw new VerificationError(
          `Cannot use "${file}": ${role} key ${id.slice(0, 16)} does not hash to its ID`,
        );
      }
    }
  }
}
