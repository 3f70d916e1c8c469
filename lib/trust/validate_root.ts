import { createPublicKey } from "node:crypto";
import { ManifestFormatError } from "../errors.ts";
import { KEY_SCHEME, KEY_TYPE, keyId, type PublicKeyInfo } from "../format/key_info.ts";
import type { RootManifest } from "../format/manifest_types.ts";
import { TOP_LEVEL_ROLES } from "../format/repo_defaults.ts";

/**
 * The one validity rule for a root, TiUP's `Root.isValid` (TIUP-FORMAT.md §1.3), applied to every
 * root ferry trusts or writes: all four roles present with URL `/<role>.json`, an integer
 * threshold ≥ 1 that the role's keys can meet, and every key an rsa / rsassa-pss-sha256 public
 * key filed under its own SHA-256 key ID (a key under another ID is a key substitution). Takes
 * the `signed` object, so a root built in memory (rotate) is checked like one read from a mirror.
 * Throws ManifestFormatError naming `file`.
 *
 * @example
 * ```ts
 * validateRoot(decoded.signed, "3.root.json"); // throws: the index role's url is "/x.json", …
 * ```
 */
export function validateRoot(root: RootManifest, file: string): void {
  const roles = root.roles as unknown as Record<string, unknown> | null;
  if (typeof roles !== "object" || roles === null) {
    throw new ManifestFormatError(`Cannot use "${file}": it has no "roles"`);
  }
  for (const role of TOP_LEVEL_ROLES) {
    const entry = root.roles[role];
    if (typeof entry !== "object" || entry === null) {
      throw new ManifestFormatError(`Cannot use "${file}": it has no "${role}" role`);
    }
    if (entry.url !== `/${role}.json`) {
      throw new ManifestFormatError(
        `Cannot use "${file}": the ${role} role's url is "${entry.url}", expected "/${role}.json"`,
      );
    }
    validateKeys(entry.keys ?? {}, entry.threshold, { file, what: `the ${role} role` });
  }
}

/**
 * The rule every key set follows, a root role's or an index owner's: an integer threshold ≥ 1
 * that the keys can meet, each key rsa / rsassa-pss-sha256, parseable, under its own key ID.
 * Throws ManifestFormatError: `Cannot use "3.index.json": owner "alice" has 1 keys but needs 2`.
 */
export function validateKeys(
  keys: Record<string, PublicKeyInfo>,
  threshold: number,
  where: { file: string; what: string },
): void {
  const { file, what } = where;
  const ids = Object.keys(keys);
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new ManifestFormatError(
      `Cannot use "${file}": ${what}'s threshold (${threshold}) is not a positive integer`,
    );
  }
  if (ids.length < threshold) {
    throw new ManifestFormatError(
      `Cannot use "${file}": ${what} has ${ids.length} keys but needs ${threshold}`,
    );
  }
  for (const id of ids) {
    const info = keys[id]!;
    const short = id.slice(0, 16);
    if (info?.keytype !== KEY_TYPE || info?.scheme !== KEY_SCHEME) {
      throw new ManifestFormatError(
        `Cannot use "${file}": ${what}'s key ${short} is not ${KEY_TYPE}/${KEY_SCHEME}`,
      );
    }
    if (typeof info.keyval?.public !== "string" || keyId(info) !== id) {
      throw new ManifestFormatError(
        `Cannot use "${file}": ${what}'s key ${short} does not hash to its ID`,
      );
    }
    if (!isRsaPublicKey(info.keyval.public)) {
      throw new ManifestFormatError(
        `Cannot use "${file}": ${what}'s key ${short} is not an RSA public key`,
      );
    }
  }
}

function isRsaPublicKey(pem: string): boolean {
  try {
    return createPublicKey(pem).asymmetricKeyType === "rsa";
  } catch {
    return false;
  }
}
