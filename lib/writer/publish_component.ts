import type { Storage } from "../storage/storage.ts";
import type { SigningKey } from "../format/key_info.ts";
import { loadComponentManifest } from "../trust/load_component_manifest.ts";
import { planPublish, type PublishPackage } from "./plan_publish.ts";
import {
  updateRepository,
  type UpdateRepositoryOptions,
  type UpdateResult,
} from "./update_repository.ts";

/** Options for {@linkcode publishComponent}. */
export interface PublishComponentOptions extends UpdateRepositoryOptions {
  /** The owner's private key (or keys, for an owner with threshold > 1). */
  key: SigningKey | SigningKey[];
  /** Component manifest life from now in days (default 5 years, never shortened). */
  componentDays?: number;
}

/** What a publish did. */
export interface PublishResult extends UpdateResult {
  /** Notes for the user, e.g. flags that were ignored. */
  notes: string[];
  /** The tarball's name in the mirror: `<comp>-<ver>-<os>-<arch>.tar.gz`. */
  tarballPath: string;
  /** True when this created the component. */
  created: boolean;
}

/**
 * Publishes one build of a component into a mirror (`ferry mirror publish`): one locked
 * transaction on the verified current state that adds the tarball, `{v+1}.<comp>.json` signed by
 * the owner key, a new index when the component is new, and a new snapshot and timestamp. See
 * {@linkcode planPublish} for the rules and refusals. The mirror is unchanged when it throws
 * before writing (bad input, a mirror that does not verify, a held lock).
 *
 * @example
 * ```ts
 * await publishComponent(new LocalStorage("/srv/mirror"), {
 *   component: "hello", version: "v1.0.0", platform: "linux/amd64", entry: "hello",
 *   tarball: await tarballFromFile("hello-v1.0.0-linux-amd64.tar.gz"),
 * }, { key: await loadSigningKey("private.json"), now: new Date() });
 * ```
 */
export async function publishComponent(
  storage: Storage,
  pkg: PublishPackage,
  options: PublishComponentOptions,
): Promise<PublishResult> {
  const now = options.now ?? new Date();
  const keys = Array.isArray(options.key) ? options.key : [options.key];
  let plan: ReturnType<typeof planPublish> | undefined;
  const result = await updateRepository(storage, async (state) => {
    const current = await loadComponentManifest(storage, state, pkg.component);
    plan = planPublish(state, pkg, {
      ...(current ? { current: current.manifest.signed } : {}),
      keys,
      now,
      ...(options.componentDays !== undefined ? { componentDays: options.componentDays } : {}),
    });
    return plan.change;
  }, { ...options, now });
  return { ...result, notes: plan!.notes, tarballPath: plan!.tarballPath, created: plan!.created };
}
