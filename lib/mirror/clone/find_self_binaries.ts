import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { UsageError } from "../../errors.ts";
import { findSelfBinary, type SelfBinarySource } from "./find_self_binary.ts";

/** Options for {@linkcode findSelfBinaries}. */
export interface FindSelfBinariesOptions {
  /** The host platform, TiUP style: "linux/amd64". */
  host: string;
  /** `--ferry-binary FILE`: the executable for the host platform. */
  binary?: string | undefined;
  /** `--ferry-binaries DIR`: a release directory holding `<os>-<arch>/ferry`. */
  directory?: string | undefined;
  /** The running executable (default `process.execPath`). */
  executable?: string;
}

/** The ferry executables found, by platform, and where the others were looked for. */
export interface SelfBinaries {
  /** "linux/arm64" → the path of an executable built for it. */
  binaries: Record<string, string>;
  /** How the host platform's executable was found, if it was. */
  hostSource?: SelfBinarySource;
  /** The release directory searched for `<os>-<arch>/ferry`, when there was one. */
  directory?: string;
  /**
   * Where to keep each platform's packed tarball between clones: `<os>-<arch>/ferry.tar.gz` in
   * the release directory, for every platform that has a folder there.
   */
  packCaches: Record<string, string>;
}

/**
 * Finds a ferry executable for every platform a clone may carry. The host platform's is the one
 * {@linkcode findSelfBinary} finds (`--ferry-binary`, `$FERRY_SELF_BINARY`, or this compiled
 * executable); the others come from a release directory laid out as
 * `scripts/build_binary.sh --all` writes it (`linux-arm64/ferry`, `darwin-amd64/ferry`, …):
 * `directory` (`--ferry-binaries`), else `$FERRY_SELF_BINARIES`, else the directory beside the
 * host's executable (`dist/` when running `dist/ferry`). Nothing is compiled here; packed
 * tarballs are kept beside the binaries there (`linux-arm64/ferry.tar.gz`). A directory
 * given explicitly that does not exist is a UsageError; the default one may be absent.
 */
export async function findSelfBinaries(
  env: Record<string, string | undefined>,
  options: FindSelfBinariesOptions,
): Promise<SelfBinaries> {
  const host = findSelfBinary(env, options.binary, options.executable);
  const given = options.directory ?? env.FERRY_SELF_BINARIES;
  const directory = given
    ? nodePath.resolve(given)
    : host
    ? nodePath.dirname(host.path)
    : undefined;
  const binaries: Record<string, string> = {};
  const packCaches: Record<string, string> = {};
  if (directory) {
    const names = await fs.readdir(directory).catch((error) => {
      if (!given) return [] as string[];
      throw new UsageError(
        `Cannot read the ferry binaries directory "${directory}": ${error.code ?? error}`,
      );
    });
    for (const name of names.sort()) {
      const match = /^([a-z0-9_]+)-([a-z0-9_]+)$/.exec(name);
      if (!match) continue;
      const file = nodePath.join(directory, name, "ferry");
      const info = await fs.stat(file).catch(() => undefined);
      if (!info?.isFile()) continue;
      binaries[`${match[1]}/${match[2]}`] = file;
      packCaches[`${match[1]}/${match[2]}`] = `${file}.tar.gz`;
    }
  }
  if (host) binaries[options.host] = host.path;
  return {
    binaries,
    packCaches,
    ...(host ? { hostSource: host.source } : {}),
    ...(directory ? { directory } : {}),
  };
}
