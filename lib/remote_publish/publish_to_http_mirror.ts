import { encodeManifest } from "../format/encode_manifest.ts";
import { loadComponentManifest } from "../trust/load_component_manifest.ts";
import { planPublish, type PublishPackage } from "../writer/plan_publish.ts";
import { keyList, type RemoteWriteOptions, submitWithRetry } from "./_submit_component.ts";

/** Options for {@linkcode publishToHttpMirror}. */
export interface PublishToHttpMirrorOptions extends RemoteWriteOptions {
  /** Component manifest life from now in days (default 5 years, never shortened). */
  componentDays?: number;
}

/** What a remote publish did. */
export interface RemotePublishResult {
  /** The tarball's name in the mirror. */
  tarballPath: string;
  created: boolean;
  notes: string[];
  /** The component manifest version the server committed. */
  componentVersion: number;
  /** How many attempts it took (more than 1 when other publishers raced it). */
  attempts: number;
}

/**
 * Publishes one build of a component to a mirror served with a publish API (tiup-server, or
 * `ferry mirror serve DIR --publish`) as TiUP's client does: reads and verifies the mirror over
 * HTTP, plans the new component manifest with the same rules as a local publish
 * ({@linkcode planPublish}), signs it with the owner key, uploads the tarball and posts the
 * manifest (new components with their `standalone`/`hidden` flags). The server re-signs index,
 * snapshot and timestamp. Retries from a fresh read when a concurrent publisher won (409).
 */
export async function publishToHttpMirror(
  url: string,
  pkg: PublishPackage,
  options: PublishToHttpMirrorOptions,
): Promise<RemotePublishResult & { attempts: number }> {
  const keys = keyList(options.key);
  return await submitWithRetry(url, options, async ({ state, storage, client, now }) => {
    const current = await loadComponentManifest(storage, state, pkg.component);
    const plan = planPublish(state, pkg, {
      ...(current ? { current: current.manifest.signed } : {}),
      keys,
      now,
      ...(options.componentDays !== undefined ? { componentDays: options.componentDays } : {}),
    });
    const component = plan.change.components![0]!;
    const manifest = encodeManifest(component.manifest, keys);
    const sid = client.newSession();
    await client.uploadTarball(sid, {
      filename: plan.tarballPath,
      length: pkg.tarball.length,
      open: pkg.tarball.open,
    });
    // TiUP's doPublish sends both flags, explicitly, only when it creates the component.
    const query = plan.created
      ? { standalone: pkg.standalone === true, hidden: pkg.hidden === true }
      : {};
    await client.postComponent(sid, component.manifest.id, manifest, query);
    return {
      tarballPath: plan.tarballPath,
      created: plan.created,
      notes: plan.notes,
      componentVersion: component.manifest.version,
    };
  });
}
