import type { Storage } from "../storage/storage.ts";
import { type NewOwner, planGrant } from "./plan_grant.ts";
import {
  updateRepository,
  type UpdateRepositoryOptions,
  type UpdateResult,
} from "./update_repository.ts";

/**
 * Adds an owner to a mirror (`ferry mirror grant`) in one locked transaction on the verified
 * state: a new index version (signed with the mirror's index key), then snapshot and timestamp.
 * See {@linkcode planGrant} for the refusals.
 */
export async function grantOwner(
  storage: Storage,
  owner: NewOwner,
  options: UpdateRepositoryOptions = {},
): Promise<UpdateResult> {
  const now = options.now ?? new Date();
  return await updateRepository(
    storage,
    (state) => ({ index: planGrant(state, owner, { now }) }),
    { ...options, now },
  );
}
