import { ManifestFormatError, UsageError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import { canonicalBytes } from "../format/canonical_json.ts";
import { validateRoot } from "../trust/validate_root.ts";
import { decodeManifest } from "../format/decode_manifest.ts";
import { extendExpiry } from "../format/extend_expiry.ts";
import type { Envelope, RoleKeys, RootManifest } from "../format/manifest_types.ts";
import { normalizeManifest } from "../format/normalize_manifest.ts";
import { loadRepoKeys } from "./repo_keys.ts";
import { DEFAULT_EXPIRY_DAYS, MIRROR_KEYS_PREFIX } from "../format/repo_defaults.ts";
import { parseRfc3339 } from "../format/rfc3339.ts";
import { signBytes } from "../format/sign_manifest.ts";
import {
  updateRepository,
  type UpdateRepositoryOptions,
  type UpdateResult,
} from "./update_repository.ts";
import { isValidSignature } from "../format/verify_signatures.ts";

/** Options for {@linkcode rotateRoot}. */
export interface RotateRootOptions extends UpdateRepositoryOptions {
  /** The new root file's name, for messages. */
  file?: string;
  /**
   * Also sign with the root keys (old or new) found in the key folder that have not signed yet
   * (default true): the mirror's own `keys/` usually holds the root keys `init` made.
   */
  signWithKeyFolder?: boolean;
}

/** What a rotation did. */
export interface RotateResult extends UpdateResult {
  /** The root written: `{N+1}.root.json`. */
  rootPath: string;
  /** Key IDs whose signatures the written root carries. */
  signedBy: string[];
}

/**
 * Applies a prepared and signed next root (`ferry mirror rotate --apply`), offline: the file must
 * be root version N+1 of the mirror's verified current root, valid (four roles, key IDs,
 * thresholds), not expired and not expiring before root N, and signed by a threshold of the
 * current root keys AND a threshold of its own root keys — what a TiUP client checks when it
 * walks to N+1. Writes `{N+1}.root.json` (never root.json), then snapshot (`/root.json` → N+1)
 * and timestamp signed with the new root's keys; when the index keys changed, also re-signs the
 * index as a new version. Throws UsageError listing missing signatures; the mirror is unchanged.
 */
export async function rotateRoot(
  storage: Storage,
  newRoot: Uint8Array,
  options: RotateRootOptions = {},
): Promise<RotateResult> {
  const now = options.now ?? new Date();
  const file = options.file ?? "new root";
  const keyLocation = options.keys ?? { storage, prefix: MIRROR_KEYS_PREFIX };
  let written: Envelope<RootManifest> | undefined;
  const result = await updateRepository(storage, async (state) => {
    let decoded;
    try {
      decoded = decodeManifest(newRoot, "root", file);
    } catch (error) {
      // The file is the user's input: a bad one is a usage error, not a broken mirror.
      if (error instanceof SyntaxError || error instanceof ManifestFormatError) {
        throw new UsageError((error as Error).message, { cause: error });
      }
      throw error;
    }
    const next = normalizeManifest(decoded.signed);
    const current = state.root.manifest.signed;
    if (next.version !== current.version + 1) {
      throw new UsageError(
        `Cannot apply "${file}": it is root version ${next.version} but the mirror's root is version ${current.version}; prepare a new one with "ferry mirror rotate --prepare"`,
      );
    }
    validateRoot(next, file);
    if (parseRfc3339(next.expires).getTime() < now.getTime()) {
      throw new UsageError(`Cannot apply "${file}": it expired at ${next.expires}`);
    }
    if (parseRfc3339(next.expires).getTime() < parseRfc3339(current.expires).getTime()) {
      throw new UsageError(
        `Cannot apply "${file}": it expires (${next.expires}) before the current root (${current.expires}), which clients refuse`,
      );
    }
    const bytes = canonicalBytes(next);
    const signatures = decoded.signatures.filter((s, i, all) =>
      all.findIndex((o) => o.keyid === s.keyid) === i
    );
    if (options.signWithKeyFolder !== false) {
      const local = [
        ...(await loadRepoKeys(keyLocation, current)).root,
        ...(await loadRepoKeys(keyLocation, next)).root,
      ];
      for (const key of local) {
        if (!signatures.some((s) => s.keyid === key.id)) signatures.push(signBytes(key, bytes));
      }
    }
    const oldCount = validCount(current.roles.root, bytes, signatures);
    const newCount = validCount(next.roles.root, bytes, signatures);
    if (oldCount < current.roles.root.threshold || newCount < next.roles.root.threshold) {
      throw new UsageError(
        `Cannot apply "${file}": it has ${oldCount} of the ${current.roles.root.threshold} ` +
          `signatures required from root v${current.version}'s keys and ${newCount} of the ` +
          `${next.roles.root.threshold} required from its own root keys; have the key holders ` +
          `run "ferry mirror sign ${file} -k KEYFILE"`,
      );
    }
    written = { signatures, signed: next };
    const indexKeysChanged = !sameKeys(current.roles.index, next.roles.index);
    if (!indexKeysChanged) return { root: written };
    const index = normalizeManifest(state.index.manifest.signed);
    index.version += 1;
    index.expires = extendExpiry(index.expires, now, DEFAULT_EXPIRY_DAYS.index);
    return { root: written, index };
  }, { ...options, now, keys: keyLocation });
  return {
    ...result,
    rootPath: `${written!.signed.version}.root.json`,
    signedBy: written!.signatures.map((s) => s.keyid),
  };
}

function validCount(
  role: RoleKeys,
  bytes: Uint8Array,
  signatures: Array<{ keyid: string; sig: string }>,
): number {
  return signatures.filter((s) =>
    Object.hasOwn(role.keys, s.keyid) && isValidSignature(role.keys[s.keyid]!, bytes, s.sig)
  ).length;
}

function sameKeys(a: RoleKeys, b: RoleKeys): boolean {
  const left = Object.keys(a.keys).sort();
  const right = Object.keys(b.keys).sort();
  return a.threshold === b.threshold && left.join() === right.join();
}
