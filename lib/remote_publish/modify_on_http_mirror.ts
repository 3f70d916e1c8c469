import { UsageError } from "../errors.ts";
import { encodeManifest } from "../format/encode_manifest.ts";
import { loadComponentManifest } from "../trust/load_component_manifest.ts";
import { type ModifyRequest, planModify } from "../writer/plan_modify.ts";
import { keyList, type RemoteWriteOptions, submitWithRetry } from "./_submit_component.ts";

/**
 * Changes a published component on a mirror served with a publish API, as `tiup mirror modify`
 * does against an HTTP mirror: the same plan as a local modify ({@linkcode planModify}), the
 * new component manifest signed with the owner key and posted without a tarball, the index
 * flags given (hidden, standalone, yanked; component-wide only) sent as the query. Retries from a
 * fresh read on 409.
 */
export async function modifyOnHttpMirror(
  url: string,
  request: ModifyRequest,
  options: RemoteWriteOptions,
): Promise<{ componentVersion: number; attempts: number }> {
  const keys = keyList(options.key);
  return await submitWithRetry(url, options, async ({ state, storage, client, now }) => {
    const current = await loadComponentManifest(storage, state, request.component);
    if (!current) {
      throw new UsageError(
        `Cannot modify "${request.component}": the mirror "${url}" has no such component`,
      );
    }
    const change = planModify(state, request, { current: current.manifest.signed, keys, now });
    const component = change.components![0]!;
    const query = request.version === undefined
      ? {
        ...(request.hidden !== undefined ? { hidden: request.hidden } : {}),
        ...(request.standalone !== undefined ? { standalone: request.standalone } : {}),
        ...(request.yanked !== undefined ? { yanked: request.yanked } : {}),
      }
      : {};
    const manifest = encodeManifest(component.manifest, keys);
    await client.postComponent(client.newSession(), request.component, manifest, query);
    return { componentVersion: component.manifest.version };
  });
}
