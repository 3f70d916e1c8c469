import { UsageError, VerificationError } from "../../errors.ts";
import { canonicalBytes } from "../../format/canonical_json.ts";
import { validateRoot } from "../../trust/validate_root.ts";
import { decodeManifest } from "../../format/decode_manifest.ts";
import { MAX_ROOT_BYTES } from "../../format/repo_defaults.ts";
import { normalizeManifest } from "../../format/normalize_manifest.ts";
import { loadRepositoryState } from "../../trust/load_verified_state.ts";
import { parseRfc3339 } from "../../format/rfc3339.ts";
import { type RotateResult, rotateRoot } from "../../writer/rotate_root.ts";
import type { UpdateRepositoryOptions } from "../../writer/update_repository.ts";
import { verifySignatures } from "../../format/verify_signatures.ts";
import type { Storage } from "../../storage/storage.ts";
import { PublishRefusal } from "./_refusal.ts";

/**
 * Commits a new root posted to POST /api/v1/rotate (tiup-server's RotateRoot): it must decode
 * as a valid root, be version N+1 of the mirror's current root (409 otherwise), not be expired
 * nor expire before root N, and carry a threshold of valid signatures from root N's keys —
 * TiUP's rule — and, as every TiUP client checks when it walks to N+1, a threshold from its own
 * root keys (403 otherwise). The server never adds a signature of its own, even when it holds
 * root keys: who may rotate is decided by the old root's key holders alone. Commits through
 * {@linkcode rotateRoot} (lock, journal, snapshot and timestamp re-signed).
 */
export async function acceptRoot(
  storage: Storage,
  body: Uint8Array,
  options: UpdateRepositoryOptions = {},
): Promise<RotateResult> {
  const file = "root.json (submitted)";
  if (body.length > MAX_ROOT_BYTES) {
    throw new PublishRefusal("invalid-manifest", `Cannot accept "${file}": it is too large`);
  }
  const now = options.now ?? new Date();
  const decoded = decodeManifest(body, "root", file);
  const next = normalizeManifest(decoded.signed);
  try {
    validateRoot(next, file);
  } catch (error) {
    if (error instanceof VerificationError || error instanceof UsageError) {
      throw new PublishRefusal("invalid-manifest", error.message, { cause: error });
    }
    throw error;
  }
  const state = await loadRepositoryState(storage, { now });
  const current = state.root.manifest.signed;
  if (next.version !== current.version + 1) {
    throw new PublishRefusal(
      "conflict",
      `Cannot accept root version ${next.version}: the mirror's root is version ${current.version}`,
    );
  }
  const expires = parseRfc3339(next.expires).getTime();
  if (expires < now.getTime() || expires < parseRfc3339(current.expires).getTime()) {
    throw new PublishRefusal(
      "invalid-manifest",
      `Cannot accept "${file}": it expires (${next.expires}) before now or before the current root`,
    );
  }
  const signedBytes = canonicalBytes(next);
  verifySignatures(signedBytes, decoded.signatures, current.roles.root, `${file} (old root keys)`);
  verifySignatures(signedBytes, decoded.signatures, next.roles.root, `${file} (new root keys)`);
  try {
    return await rotateRoot(storage, body, { ...options, now, file, signWithKeyFolder: false });
  } catch (error) {
    // Everything rotateRoot refuses was checked above on the state then: it changed since.
    if (error instanceof UsageError) {
      throw new PublishRefusal("conflict", error.message, { cause: error });
    }
    throw error;
  }
}
