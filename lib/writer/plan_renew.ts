import { extendExpiry } from "../format/extend_expiry.ts";
import type { SigningKey } from "../format/key_info.ts";
import type { ComponentManifest } from "../format/manifest_types.ts";
import { normalizeManifest } from "../format/normalize_manifest.ts";
import { DEFAULT_EXPIRY_DAYS } from "../format/repo_defaults.ts";
import type { RepositoryChange } from "./repository_change.ts";
import type { RepositoryState } from "../trust/load_verified_state.ts";

/** Options for {@linkcode planRenew}. */
export interface PlanRenewOptions {
  now: Date;
  /** A component to renew, with its owner's key(s). */
  component?: { manifest: ComponentManifest; keys: SigningKey[]; days?: number };
  /** Re-sign the index with expiry ≥ now + this many days (a new index version). */
  indexDays?: number;
}

/**
 * Builds a renew transaction (pure; TiUP's `mirror renew`, extended): the component manifest, if
 * given, gets version + 1 and expiry = max(current, now + days) (default 5 years) — expired or not;
 * with `indexDays` the index gets a new version and expiry = max(current, now + indexDays).
 * Snapshot and timestamp are renewed by every transaction (their days are commit options).
 */
export function planRenew(state: RepositoryState, options: PlanRenewOptions): RepositoryChange {
  const change: RepositoryChange = {};
  if (options.component) {
    const { manifest: current, keys, days } = options.component;
    const manifest = normalizeManifest(current);
    manifest.version = current.version + 1;
    manifest.expires = extendExpiry(
      current.expires,
      options.now,
      days || DEFAULT_EXPIRY_DAYS.component,
    );
    change.components = [{ manifest, keys }];
  }
  if (options.indexDays !== undefined) {
    const index = normalizeManifest(state.index.manifest.signed);
    index.version += 1;
    index.expires = extendExpiry(index.expires, options.now, options.indexDays);
    change.index = index;
  }
  return change;
}
