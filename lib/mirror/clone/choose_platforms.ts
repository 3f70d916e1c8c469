import { UsageError } from "../../errors.ts";
import type { ComponentManifest } from "../../format/manifest_types.ts";
import { DEFAULT_CLONE_ARCH, DEFAULT_CLONE_OS } from "./clone_options.ts";

/** What {@linkcode choosePlatforms} reads of the clone's options. */
export interface PlatformRequest {
  os?: string[];
  arch?: string[];
  full?: boolean;
}

/**
 * The platforms a clone carries: os × arch plus "any/any" (TiUP adds it so platform-independent
 * components come along). A full clone without --os/--arch takes every platform the source's
 * `upstream` manifests have, not just TiUP's defaults. Throws UsageError for a name that is not
 * a plain platform word.
 */
export function choosePlatforms(
  request: PlatformRequest,
  upstream: ReadonlyMap<string, ComponentManifest>,
): string[] {
  const givenOs = request.os !== undefined && request.os.length > 0;
  const givenArch = request.arch !== undefined && request.arch.length > 0;
  if (request.full && !givenOs && !givenArch) {
    const all = new Set(["any/any"]);
    for (const manifest of upstream.values()) {
      for (const platform of Object.keys(manifest.platforms)) all.add(platform);
    }
    for (const os of DEFAULT_CLONE_OS) {
      for (const arch of DEFAULT_CLONE_ARCH) all.add(`${os}/${arch}`);
    }
    return [...all].sort();
  }
  const os = givenOs ? request.os! : DEFAULT_CLONE_OS;
  const arch = givenArch ? request.arch! : DEFAULT_CLONE_ARCH;
  for (const name of [...os, ...arch]) {
    if (!/^[a-z0-9_]+$/.test(name)) {
      throw new UsageError(`Cannot use platform name "${name}": use names like linux or amd64`);
    }
  }
  const platforms = os.flatMap((o) => arch.map((a) => `${o}/${a}`));
  return [...new Set([...platforms, "any/any"])];
}
