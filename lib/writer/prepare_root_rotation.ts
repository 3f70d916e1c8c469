import { UsageError } from "../errors.ts";
import { canonicalBytes } from "../format/canonical_json.ts";
import { validateRoot } from "../trust/validate_root.ts";
import { extendExpiry } from "../format/extend_expiry.ts";
import { keyId, type PublicKeyInfo } from "../format/key_info.ts";
import type { Envelope, RootManifest } from "../format/manifest_types.ts";
import { normalizeManifest } from "../format/normalize_manifest.ts";
import { DEFAULT_EXPIRY_DAYS } from "../format/repo_defaults.ts";

/** What the next root changes. Key changes apply to the root role. */
export interface RootRotationRequest {
  /** Life of the new root from now, in days (default 365; never before the current root's). */
  expiresDays?: number;
  /** Public keys to add to the root role. */
  addKeys?: PublicKeyInfo[];
  /** Root key IDs (or unique prefixes of ≥ 8 hex digits) to remove from the root role. */
  removeKeys?: string[];
  /** The root role's new threshold (default: unchanged). */
  threshold?: number;
}

/** The unsigned next root: `{"signatures":[],"signed":{…}}` and its canonical bytes. */
export interface PreparedRoot {
  envelope: Envelope<RootManifest>;
  bytes: Uint8Array;
}

/**
 * Builds the next root (pure), version N+1, unsigned, for offline signing: key holders add
 * signatures with `ferry mirror sign FILE -k KEY`, then `ferry mirror rotate --apply FILE`
 * checks and writes it. Expiry is max(current, now + days) because clients refuse a root that
 * expires before the one it replaces. Refuses unknown or ambiguous key IDs, keys already present,
 * and a threshold the resulting keys cannot meet.
 */
export function prepareRootRotation(
  current: RootManifest,
  request: RootRotationRequest,
  options: { now: Date },
): PreparedRoot {
  const next = normalizeManifest(current);
  next.version = current.version + 1;
  next.expires = extendExpiry(
    current.expires,
    options.now,
    request.expiresDays ?? DEFAULT_EXPIRY_DAYS.root,
  );
  const keys = next.roles.root.keys;
  for (const wanted of request.removeKeys ?? []) {
    const prefix = wanted.toLowerCase();
    if (!/^[0-9a-f]{8,64}$/.test(prefix)) {
      throw new UsageError(
        `Cannot remove key "${wanted}": give its ID (at least 8 hex digits, as in the key file name)`,
      );
    }
    const matches = Object.keys(keys).filter((id) => id.startsWith(prefix));
    if (matches.length !== 1) {
      throw new UsageError(
        `Cannot remove key "${wanted}": it matches ${matches.length} root keys of root v${current.version}`,
      );
    }
    delete keys[matches[0]!];
  }
  for (const info of request.addKeys ?? []) {
    const id = keyId(info);
    if (Object.hasOwn(keys, id)) {
      throw new UsageError(`Cannot add key ${id.slice(0, 16)}: it is already a root key`);
    }
    keys[id] = {
      keytype: info.keytype,
      keyval: { public: info.keyval.public },
      scheme: info.scheme,
    };
  }
  if (request.threshold !== undefined) next.roles.root.threshold = request.threshold;
  const count = Object.keys(keys).length;
  if (!Number.isInteger(next.roles.root.threshold) || next.roles.root.threshold < 1) {
    throw new UsageError(`Cannot use threshold ${request.threshold}: use a whole number ≥ 1`);
  }
  if (count < next.roles.root.threshold) {
    throw new UsageError(
      `Cannot prepare root v${next.version}: it would have ${count} root keys for a threshold of ${next.roles.root.threshold}`,
    );
  }
  validateRoot(next, `${next.version}.root.json`);
  const envelope: Envelope<RootManifest> = { signatures: [], signed: next };
  return { envelope, bytes: canonicalBytes(envelope) };
}
