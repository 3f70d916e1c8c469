/**
 * What the client commands (list, install, run, mirror set/show) share (folder-private): the
 * profile, the effective mirror, the verifying updater over it, and how trust is reported.
 *
 * @module
 */
import type { Output } from "../lib/cli/output.ts";
import { ferryHome } from "../lib/client/home_dir.ts";
import { openClientUpdater } from "../lib/client/open_client_updater.ts";
import { type MirrorAddress, resolveMirrorAddress } from "../lib/client/resolve_mirror_address.ts";
import { setMirror, type SetMirrorResult } from "../lib/client/set_mirror.ts";
import { isTiupProfile } from "../lib/client/tiup_profile.ts";
import { NotFoundError, StorageError } from "../lib/errors.ts";
import type { MirrorUpdater, RefreshResult } from "../lib/trust/mirror_updater.ts";
import { openStorage } from "../lib/storage/open_storage.ts";
import { FERRY_VERSION } from "../lib/version.ts";

/** A refreshed, verified view of the client's mirror. */
export interface ClientMirror {
  home: string;
  mirror: MirrorAddress;
  updater: MirrorUpdater;
  refreshed: RefreshResult;
}

/**
 * Opens the effective mirror and brings its manifests up to date (root → timestamp → snapshot →
 * index, verified, cached in `$FERRY_HOME/manifests`).
 *
 * Like TiUP (TIUP-FORMAT.md §5.1), when `$FERRY_MIRROR`/`$TIUP_MIRRORS` names a mirror other
 * than the profile's, the profile is switched to it first, exactly as `ferry mirror set` would
 * (its root.json is trusted on first use and the fingerprints are printed).
 */
export async function openClientMirror(
  context: { env: Record<string, string | undefined>; out: Output },
): Promise<ClientMirror> {
  const home = ferryHome(context.env);
  const mirror = await resolveMirrorAddress(home, context.env);
  if (
    (mirror.source === "FERRY_MIRROR" || mirror.source === "TIUP_MIRRORS") &&
    mirror.address !== mirror.configured
  ) {
    context.out.warn(
      `${mirror.source} names "${mirror.address}", not the profile's mirror (${
        mirror.configured ? `"${mirror.configured}"` : "none set"
      }): switching the profile to it, as "ferry mirror set" would`,
    );
    printRootTrust(
      context.out,
      await setMirror(home, mirror.address, { tiupProfile: isTiupProfile(context.env) }),
    );
  }
  const updater = await openClientUpdater(
    home,
    openStorage(mirror.address, { userAgent: `ferry/${FERRY_VERSION}` }),
  );
  let refreshed: RefreshResult;
  try {
    refreshed = await updater.refresh();
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new StorageError(
        `Cannot read the mirror "${mirror.address}": it has no "${error.path}" (is the address right? check with "ferry mirror show")`,
        { cause: error },
      );
    }
    throw error;
  }
  return { home, mirror, updater, refreshed };
}

/** Prints which root is now trusted and its key fingerprints, for an out-of-band check. */
export function printRootTrust(out: Output, result: SetMirrorResult): void {
  const { root } = result;
  const how = result.rootSource === "flag"
    ? `given with --root (${result.rootFrom})`
    : result.rootSource === "cache"
    ? `cached for this address (${result.rootFrom})`
    : `trusted on first use, read from ${result.rootFrom}`;
  out.print(`Trusting root.json v${root.version} of "${result.address}", expires ${root.expires}`);
  out.print(`  (${how})`);
  for (const [role, summary] of Object.entries(root.roles)) {
    out.print(
      `  ${role.padEnd(9)} keys (threshold ${summary.threshold}): ${summary.keyIds.join(" ")}`,
    );
  }
  if (result.rootSource === "mirror") {
    out.print(
      "Compare these key IDs with the mirror owner's (its keys/<id>-root.json names) before relying on it",
    );
  }
  if (result.insecure) {
    out.warn(
      "this root.json came over plain http, so anyone on the network path could have replaced it: " +
        "check the key IDs above, or use https, or pass --root FILE",
    );
  }
  if (result.expired) {
    out.warn(
      `the mirror's metadata has expired (${result.expiredDetail}): it will be refused until its owner renews it ("ferry mirror renew", or "ferry mirror rotate" for an expired root)`,
    );
  }
}
