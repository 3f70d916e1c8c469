import { UsageError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import type { SigningKey } from "../format/key_info.ts";
import { loadComponentManifest } from "../trust/load_component_manifest.ts";
import { planRenew } from "./plan_renew.ts";
import {
  updateRepository,
  type UpdateRepositoryOptions,
  type UpdateResult,
} from "./update_repository.ts";

/** What `ferry mirror renew` renews. */
export interface RenewRequest {
  /** A component to renew (needs `key`); omit to renew only the repository's manifests. */
  component?: string;
  /** Component life from now in days (0 or absent: 5 years). */
  days?: number;
  /** Also re-sign the index to live this many days from now. */
  indexDays?: number;
  /** snapshot.json life from now in days (default 30). */
  snapshotDays?: number;
  /** timestamp.json life from now in days (default 30). */
  timestampDays?: number;
}

/** Options for {@linkcode renewComponent}. */
export interface RenewComponentOptions extends Omit<UpdateRepositoryOptions, "expiry"> {
  /** The component owner's private key(s); required with a component. */
  key?: SigningKey | SigningKey[];
}

/**
 * Extends expiries (`ferry mirror renew`) in one locked transaction, never shortening any:
 * the component manifest (new version), optionally the index (new version), and always the
 * snapshot and timestamp (re-signed, by default for 30 days; `snapshotDays`/`timestampDays`
 * choose longer, fixing TiUP #2399). Works on an already-expired mirror: expiry never stops the
 * writer, only signatures do (TiUP #1871).
 */
export async function renewComponent(
  storage: Storage,
  request: RenewRequest,
  options: RenewComponentOptions = {},
): Promise<UpdateResult> {
  const now = options.now ?? new Date();
  const keys = options.key === undefined
    ? []
    : Array.isArray(options.key)
    ? options.key
    : [options.key];
  const days = [request.days, request.indexDays, request.snapshotDays, request.timestampDays];
  for (const value of days) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw new UsageError(`Cannot renew for ${value} days: use a whole number of days`);
    }
  }
  return await updateRepository(storage, async (state) => {
    let component;
    if (request.component !== undefined) {
      const current = await loadComponentManifest(storage, state, request.component);
      if (!current) {
        throw new UsageError(
          `Cannot renew "${request.component}": the mirror "${storage.location}" has no such component`,
        );
      }
      if (keys.length === 0) {
        throw new UsageError(`Cannot renew "${request.component}": its owner's key is required`);
      }
      component = {
        manifest: current.manifest.signed,
        keys,
        ...(request.days !== undefined ? { days: request.days } : {}),
      };
    }
    return planRenew(state, {
      now,
      ...(component ? { component } : {}),
      ...(request.indexDays !== undefined ? { indexDays: request.indexDays } : {}),
    });
  }, {
    ...options,
    now,
    expiry: {
      ...(request.snapshotDays ? { snapshotDays: request.snapshotDays } : {}),
      ...(request.timestampDays ? { timestampDays: request.timestampDays } : {}),
    },
  });
}
