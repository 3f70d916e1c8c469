import { readFile } from "node:fs/promises";
import * as nodePath from "node:path";
import { UsageError } from "../../errors.ts";
import { checkRootFitsMirror } from "../../client/check_root_fits_mirror.ts";
import { hostPlatform } from "../../client/host_platform.ts";
import { resolveMirrorAddress } from "../../client/resolve_mirror_address.ts";
import { LocalStorage } from "../../storage/local_storage.ts";
import { isS3Location, openStorage, openWritableStorage } from "../../storage/open_storage.ts";
import type { StorageReader } from "../../storage/storage.ts";
import { FERRY_VERSION } from "../../version.ts";
import { cloneIntoDirectory, type DirectoryCloneReport } from "./clone_into_directory.ts";
import { cloneMirror } from "./clone_mirror.ts";
import type { CloneOptions } from "./clone_options.ts";
import { findSelfBinaries, type SelfBinaries } from "./find_self_binaries.ts";

/** What is known once the source and ferry's own binaries are settled, before any write. */
export interface CloneStart {
  /** The source's location, as opened. */
  source: string;
  /** The absolute target directory, or the s3:// bucket location. */
  target: string;
  /** The target is an s3:// bucket (written in place), not a directory. */
  bucket: boolean;
  /** ferry's executables found to publish; undefined when asked not to publish ferry. */
  self: SelfBinaries | undefined;
}

/** Options for {@linkcode cloneWithProfile}. */
export interface CloneWithProfileOptions
  extends Omit<CloneOptions, "trustedRoot" | "sourceCache" | "self"> {
  env: Record<string, string | undefined>;
  /** The mirror to clone (`--source`); default: the profile's mirror. */
  source?: string | undefined;
  /** A root.json file to trust for the source (`--source-root`). */
  sourceRoot?: string | undefined;
  /**
   * Where to find ferry's executables to publish into the clone (`--ferry-binary`,
   * `--ferry-binaries`; see findSelfBinaries); undefined: do not publish ferry.
   */
  self?: { binary?: string | undefined; directory?: string | undefined } | undefined;
  /** Called once the source and the binaries are known, before anything is written; may throw. */
  beforeClone?: (start: CloneStart) => void | Promise<void>;
}

/**
 * `ferry mirror clone` as the profile at `home` sees it: clones the source into `directory`
 * (cloneIntoDirectory; an `s3://BUCKET/PREFIX` target is cloned in place), publishing ferry itself when its binaries are found. The source is
 * `--source`, else the profile's mirror; it is trusted, in this order:
 *
 * - `sourceRoot`, a root.json file, checked first to belong to the source (a root of another
 *   mirror is said to be one before anything is created);
 * - for the profile's own mirror, what this profile already trusts (its `bin/root.json`, and
 *   its verified-manifest cache `manifests/` as the rollback floor, updated);
 * - otherwise the source's own root.json on first use (said in the report's notes).
 */
export async function cloneWithProfile(
  home: string,
  directory: string,
  options: CloneWithProfileOptions,
): Promise<DirectoryCloneReport> {
  const { env, source: given, sourceRoot, self: selfRequest, beforeClone, ...clone } = options;
  const address = given ?? (await resolveMirrorAddress(home, env)).address;
  const source = openStorage(address, { userAgent: `ferry/${FERRY_VERSION}`, env });
  // A bucket is written in place (object stores have no rename); clients see the clone once
  // its timestamp is written, last, as with every writer transaction.
  const bucket = isS3Location(directory) ? openWritableStorage(directory, { env }) : undefined;
  const trust = await sourceTrust(home, source, { address, given, sourceRoot });
  const host = hostPlatform();
  const self = selfRequest &&
    await findSelfBinaries(env, { host: `${host.os}/${host.arch}`, ...selfRequest });
  const target = bucket ? bucket.location : nodePath.resolve(directory);
  await beforeClone?.({ source: source.location, target, bucket: bucket !== undefined, self });
  const into = bucket
    ? async (options: CloneOptions) => ({
      ...await cloneMirror(source, bucket, options),
      target: bucket.location,
    })
    : (options: CloneOptions) => cloneIntoDirectory(source, directory, options);
  return await into({
    ...clone,
    ...trust,
    ...(self && Object.keys(self.binaries).length > 0
      ? {
        self: {
          version: `v${FERRY_VERSION}`,
          binaries: self.binaries,
          packCaches: self.packCaches,
          ...(self.directory ? { searched: self.directory } : {}),
        },
      }
      : {}),
  });
}

/** Which root to trust for the source (see cloneWithProfile). */
async function sourceTrust(
  home: string,
  source: StorageReader,
  request: { address: string; given: string | undefined; sourceRoot: string | undefined },
): Promise<Pick<CloneOptions, "trustedRoot" | "sourceCache">> {
  const rootFile = request.sourceRoot;
  if (rootFile) {
    const trustedRoot = await readFile(rootFile).catch((error) => {
      throw new UsageError(`Cannot read --source-root "${rootFile}": ${error.code ?? error}`);
    });
    // Before anything is created: a root of another mirror is said to be one (issue 9).
    await checkRootFitsMirror(source, trustedRoot, {
      address: request.address,
      rootFrom: rootFile,
      wrongRootHint:
        "give the source's own root.json (from its owner), or leave out --source-root to trust the source's on first use",
    });
    return { trustedRoot };
  }
  if (request.given !== undefined) return {};
  const profileRoot = await readFile(nodePath.join(home, "bin", "root.json")).catch(() =>
    undefined
  );
  if (!profileRoot) return {};
  return {
    trustedRoot: profileRoot,
    sourceCache: new LocalStorage(nodePath.join(home, "manifests")),
  };
}
