import { UsageError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import type { SigningKey } from "../format/key_info.ts";
import { loadComponentManifest } from "../trust/load_component_manifest.ts";
import { type ModifyRequest, planModify } from "./plan_modify.ts";
import {
  updateRepository,
  type UpdateRepositoryOptions,
  type UpdateResult,
} from "./update_repository.ts";

/** Options for {@linkcode modifyComponent}. */
export interface ModifyComponentOptions extends UpdateRepositoryOptions {
  /** The component owner's private key(s). */
  key: SigningKey | SigningKey[];
  componentDays?: number;
}

/**
 * Changes a published component (`ferry mirror modify`) in one locked transaction on the
 * verified state: a new component manifest version (always), and a new index version when index
 * flags are given. See {@linkcode planModify}. Works on yanked and expired components.
 */
export async function modifyComponent(
  storage: Storage,
  request: ModifyRequest,
  options: ModifyComponentOptions,
): Promise<UpdateResult> {
  const now = options.now ?? new Date();
  const keys = Array.isArray(options.key) ? options.key : [options.key];
  return await updateRepository(storage, async (state) => {
    const current = await loadComponentManifest(storage, state, request.component);
    if (!current) {
      throw new UsageError(
        `Cannot modify "${request.component}": the mirror "${storage.location}" has no such component`,
      );
    }
    return planModify(state, request, {
      current: current.manifest.signed,
      keys,
      now,
      ...(options.componentDays !== undefined ? { componentDays: options.componentDays } : {}),
    });
  }, { ...options, now });
}
