import { UsageError } from "../errors.ts";
import { checkName } from "../format/check_names.ts";
import { extendExpiry } from "../format/extend_expiry.ts";
import type { SigningKey } from "../format/key_info.ts";
import type { ComponentManifest, IndexManifest } from "../format/manifest_types.ts";
import { normalizeManifest } from "../format/normalize_manifest.ts";
import { DEFAULT_EXPIRY_DAYS, NIGHTLY_MARK } from "../format/repo_defaults.ts";
import type { RepositoryChange } from "./repository_change.ts";
import type { RepositoryState } from "../trust/load_verified_state.ts";

/** What `mirror modify <comp>[:ver]` changes; an absent flag changes nothing. */
export interface ModifyRequest {
  component: string;
  /** With a version, only `yanked: true` (yank it everywhere) and `description` apply. */
  version?: string;
  description?: string;
  standalone?: boolean;
  hidden?: boolean;
  yanked?: boolean;
}

/** Options for {@linkcode planModify}. */
export interface PlanModifyOptions {
  /** The component's current verified manifest. */
  current: ComponentManifest;
  /** The component owner's key(s). */
  keys: SigningKey[];
  now: Date;
  /** Component manifest life from now (default 5 years, never shortened). */
  componentDays?: number;
}

/**
 * Builds a modify transaction (pure; TiUP's `mirror modify`): the component manifest always gets
 * version + 1, expiry ≥ now + 5 y, and the description if given. Without a version, each index
 * flag given (hidden, standalone, yanked) is set in a new index version; flags not given keep their
 * value. With a version, `yanked: true` marks that version yanked on every platform that has it;
 * a nightly cannot be yanked, and a version that is nowhere is an error.
 */
export function planModify(
  state: RepositoryState,
  request: ModifyRequest,
  options: PlanModifyOptions,
): RepositoryChange {
  const current = options.current;
  const id = checkName("component", request.component);
  const manifest = normalizeManifest(current);
  manifest.version = current.version + 1;
  manifest.expires = extendExpiry(
    current.expires,
    options.now,
    options.componentDays ?? DEFAULT_EXPIRY_DAYS.component,
  );
  if (request.description) manifest.description = request.description;

  let index: IndexManifest | undefined;
  if (request.version !== undefined) {
    const version = request.version;
    if (request.hidden !== undefined || request.standalone !== undefined) {
      throw new UsageError(
        `Cannot apply --hide or --standalone to "${id}:${version}": they are component flags; run "ferry mirror modify ${id}" without a version`,
      );
    }
    if (request.yanked === false) {
      throw new UsageError(`Cannot un-yank "${id}:${version}": TiUP has no way to do that`);
    }
    if (request.yanked) {
      if (version.includes(NIGHTLY_MARK)) {
        throw new UsageError(`Cannot yank "${id}:${version}": nightly versions cannot be yanked`);
      }
      let found = false;
      for (const versions of Object.values(manifest.platforms)) {
        const item = versions[version];
        if (item) {
          item.yanked = true;
          found = true;
        }
      }
      if (!found) {
        throw new UsageError(
          `Cannot yank "${id}:${version}": no platform has that version (see its manifest)`,
        );
      }
    }
  } else {
    const flags = {
      hidden: request.hidden,
      standalone: request.standalone,
      yanked: request.yanked,
    };
    if (Object.values(flags).some((v) => v !== undefined)) {
      index = normalizeManifest(state.index.manifest.signed);
      const item = index.components[id];
      if (!item) throw new UsageError(`Cannot modify "${id}": the index does not list it`);
      for (const [flag, value] of Object.entries(flags)) {
        if (value !== undefined) item[flag as keyof typeof flags] = value;
      }
      index.version += 1;
      index.expires = extendExpiry(index.expires, options.now, DEFAULT_EXPIRY_DAYS.index);
    }
  }
  return { components: [{ manifest, keys: options.keys }], ...(index ? { index } : {}) };
}
