import { readFile, stat } from "node:fs/promises";
import * as nodePath from "node:path";
import {
  booleanFlag,
  type Command,
  type FlagSpec,
  integerFlag,
  stringFlag,
} from "../../lib/cli/command.ts";
import { ExitCode, exitCodeForAll } from "../../lib/cli/exit_codes.ts";
import { createProgress, NO_PROGRESS } from "../../lib/cli/progress.ts";
import { checkRootFitsMirror } from "../../lib/client/check_root_fits_mirror.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { hostPlatform } from "../../lib/client/host_platform.ts";
import { resolveMirrorAddress } from "../../lib/client/resolve_mirror_address.ts";
import { UsageError } from "../../lib/errors.ts";
import { cloneIntoDirectory } from "../../lib/repo/clone/clone_into_directory.ts";
import { cloneMirror, type CloneOptions } from "../../lib/repo/clone/clone_mirror.ts";
import { DEFAULT_JOBS } from "../../lib/repo/clone/download_files.ts";
import { findSelfBinaries } from "../../lib/repo/clone/find_self_binaries.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { isS3Location, openStorage, openWritableStorage } from "../../lib/storage/open_storage.ts";
import { FERRY_VERSION } from "../../lib/version.ts";
import { checkWritableDirectory } from "../_check_writable.ts";
import { platformFlag } from "../_platform_flags.ts";

const FLAGS: Record<string, FlagSpec> = {
  source: {
    type: "string",
    valueName: "URL|DIR",
    description: "Mirror to clone from (default: the configured mirror)",
  },
  "source-root": {
    type: "string",
    valueName: "FILE",
    description: "The source's root.json to trust (default: the profile's, or the source's own)",
  },
  full: { type: "boolean", short: "f", description: "Clone every version of every component" },
  os: {
    type: "string",
    short: "o",
    valueName: "LIST",
    description: "Operating systems to carry, comma-separated (default linux,darwin)",
  },
  arch: {
    type: "string",
    short: "a",
    valueName: "LIST",
    description: "Architectures to carry, comma-separated (default amd64,arm64)",
  },
  prefix: { type: "boolean", description: "Versions match by prefix (--tidb v7 takes v7.*)" },
  overwrite: {
    type: "boolean",
    description: "Replace target files that differ from the source; write into a non-mirror dir",
  },
  jobs: {
    type: "string",
    short: "j",
    valueName: "N",
    default: String(DEFAULT_JOBS),
    description: "Parallel downloads",
  },
  "ignore-missing": {
    type: "boolean",
    description: "Exit 0 even when the source lacks some files (they are still listed)",
  },
  "public-url": {
    type: "string",
    valueName: "URL",
    description: "URL clients will reach the mirror at, written into install.sh",
  },
  "ferry-binary": {
    type: "string",
    valueName: "FILE",
    description: "ferry executable to publish into the mirror (default: this one, if compiled)",
  },
  "ferry-binaries": {
    type: "string",
    valueName: "DIR",
    description:
      "Release directory with <os>-<arch>/ferry for the other platforms (default: beside this one)",
  },
  "skip-ferry-binary": {
    type: "boolean",
    description: "Do not publish ferry itself into the mirror (tiup users only)",
  },
  json: { type: "boolean", description: "Print a JSON summary on stdout" },
};

/** `ferry mirror clone <target-dir> [global-version...]` */
export const mirrorCloneCommand: Command = {
  usage: "<target-dir> [global-version...] [--source URL|DIR] [--<component> v1,v2] [flags]",
  description:
    `Copies components from a mirror into a new signed mirror in <target-dir>, with its own
keys (kept across runs), local_install.sh (offline install) and install.sh (install over HTTP).
Every file is checked against the source's signed manifests before it appears. Re-running
into the same directory refreshes it: only new files are fetched, clients keep working.

Versions: global versions apply to every component (a component without that version gets its
latest); --<component> v1,v2 picks versions of one component. Values may be a version,
"latest", "nightly" or "all"; with --prefix, "v7" means every v7.* version. Nothing selected and
no --full: metadata only.

Examples:
  ferry mirror clone pkg --os=linux v1.2.0 --source http://10.0.0.1:8080
  ferry mirror clone pkg --tidb v7.5.0,latest --tikv all --os linux --arch amd64
  ferry mirror clone pkg --full
  tar czf pkg.tar.gz pkg        # then, offline: tar xzf pkg.tar.gz && sh pkg/local_install.sh`,
  flags: FLAGS,
  positionals: { min: 1, names: "<target-dir>" },
  dynamicFlags: true,
  async run({ args, flags, rawArgs, out, env, signal }) {
    const [targetDir, ...versions] = args;
    const jobs = integerFlag(flags, "jobs", { min: 1, max: 256 }) ?? DEFAULT_JOBS;
    const os = platformFlag(flags, "os");
    const arch = platformFlag(flags, "arch");
    const components = componentFlags(rawArgs);
    const home = ferryHome(env);
    const given = stringFlag(flags, "source");
    const sourceAddress = given ?? (await resolveMirrorAddress(home, env)).address;
    const source = openStorage(sourceAddress, { userAgent: `ferry/${FERRY_VERSION}`, env });
    // A bucket is written in place (object stores have no rename); clients see the clone once
    // its timestamp is written, last, as with every writer transaction.
    const bucket = isS3Location(targetDir!) ? openWritableStorage(targetDir!, { env }) : undefined;
    // Trust: --source-root; for the configured mirror, what this profile already trusts;
    // otherwise the source's own root.json on first use (said in the notes).
    let trust: { trustedRoot?: Uint8Array; sourceCache?: LocalStorage } = {};
    const rootFile = stringFlag(flags, "source-root");
    if (rootFile) {
      trust = {
        trustedRoot: await readFile(rootFile).catch((error) => {
          throw new UsageError(`Cannot read --source-root "${rootFile}": ${error.code ?? error}`);
        }),
      };
      // Before anything is created: a root of another mirror is said to be one (issue 9).
      await checkRootFitsMirror(source, trust.trustedRoot!, {
        address: sourceAddress,
        rootFrom: rootFile,
        wrongRootHint:
          "give the source's own root.json (from its owner), or leave out --source-root to trust the source's on first use",
      });
    } else if (given === undefined) {
      const profileRoot = await readFile(nodePath.join(home, "bin", "root.json")).catch(() =>
        undefined
      );
      if (profileRoot) {
        trust = {
          trustedRoot: profileRoot,
          sourceCache: new LocalStorage(nodePath.join(home, "manifests")),
        };
      }
    }

    const skipSelf = booleanFlag(flags, "skip-ferry-binary");
    const host = hostPlatform();
    const self = skipSelf ? undefined : await findSelfBinaries(env, {
      host: `${host.os}/${host.arch}`,
      binary: stringFlag(flags, "ferry-binary"),
      directory: stringFlag(flags, "ferry-binaries"),
    });
    if (skipSelf) {
      out.info("Not publishing ferry itself into the mirror (--skip-ferry-binary)");
    } else if (Object.keys(self!.binaries).length === 0) {
      out.warn(
        "Not publishing ferry itself into the mirror: this is not a compiled ferry binary " +
          "(pass --ferry-binary FILE or --ferry-binaries DIR); local_install.sh will need " +
          "ferry or tiup packages from the source",
      );
    } else {
      out.info(`ferry binaries for: ${Object.keys(self!.binaries).sort().join(", ")}`);
    }

    // The clone is built beside the target (or in it, when it is already a mirror): refuse a
    // place that cannot be written before fetching anything.
    const target = bucket ? bucket.location : nodePath.resolve(targetDir!);
    const existing = !bucket && await stat(target).then((info) => info.isDirectory(), () => false);
    const parent = nodePath.dirname(target);
    if (!bucket && (existing || await stat(parent).then((i) => i.isDirectory(), () => false))) {
      await checkWritableDirectory(existing ? target : parent, `Cannot clone into "${target}"`);
    }

    const json = booleanFlag(flags, "json");
    const progress = json ? NO_PROGRESS : createProgress(out, "Cloning");
    const started = Date.now();
    out.info(`Cloning ${source.location} into ${target}`);
    let report;
    try {
      const into = bucket
        ? async (options: CloneOptions) => ({
          ...await cloneMirror(source, bucket, options),
          target: bucket.location,
        })
        : (options: CloneOptions) => cloneIntoDirectory(source, targetDir!, options);
      report = await into({
        os,
        arch,
        full: booleanFlag(flags, "full"),
        prefix: booleanFlag(flags, "prefix"),
        overwrite: booleanFlag(flags, "overwrite"),
        components,
        versions,
        jobs,
        signal,
        ...trust,
        onProgress: (event) => progress.update(event),
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
        ...(stringFlag(flags, "public-url") ? { publicUrl: stringFlag(flags, "public-url")! } : {}),
      });
    } finally {
      progress.stop();
    }
    const seconds = (Date.now() - started) / 1000;
    for (const note of report.notes) out.info(note);
    for (const path of report.conflicts) {
      out.warn(`"${path}" in the target differs from the source: kept (use --overwrite)`);
    }
    for (const failure of report.failed) out.error(`${failure.path}: ${failure.error.message}`);
    for (const path of report.missing) out.warn(`The source has no "${path}": skipped`);
    if (report.ferryMissing.length > 0) {
      out.warn(`The clone carries no ferry for ${report.ferryMissing.join(", ")} (see above)`);
    }

    if (json) {
      out.json({
        target: report.target,
        created: report.created,
        changed: report.changed,
        downloaded: report.downloaded.length,
        downloadedFiles: report.downloaded,
        skipped: report.skipped.length,
        missing: report.missing,
        conflicts: report.conflicts,
        failed: report.failed.map((f) => ({ path: f.path, error: f.error.message })),
        bytes: report.bytes,
        seconds: Math.round(seconds * 1000) / 1000,
        timestampVersion: report.timestampVersion,
        ferryPacked: report.packed,
        ferryMissing: report.ferryMissing,
        components: report.components,
      });
    } else {
      const mb = (report.bytes / 1e6).toFixed(1);
      out.print(
        `${
          report.created ? "Created" : report.changed ? "Refreshed" : "Up to date:"
        } ${report.target}: ` +
          `${report.components.length} components, ${report.downloaded.length} files fetched ` +
          `(${mb} MB in ${seconds.toFixed(1)} s), ${report.skipped.length} already there`,
      );
      out.info(`Offline: copy the directory, then run: sh ${report.target}/local_install.sh`);
      out.info(
        `Online: ferry mirror serve ${report.target} --listen :8080, then on clients: ` +
          `curl -fsSL http://HOST:8080/install.sh | FERRY_MIRROR=http://HOST:8080 sh`,
      );
    }
    if (report.failed.length > 0) return exitCodeForAll(report.failed.map((f) => f.error));
    if (report.conflicts.length > 0) return ExitCode.failure;
    if (report.missing.length > 0 && !booleanFlag(flags, "ignore-missing")) {
      out.error(
        `${report.missing.length} file(s) are missing from the source (listed above); ` +
          `the rest was cloned. Pass --ignore-missing to accept that`,
      );
      return ExitCode.failure;
    }
    return ExitCode.ok;
  },
};

/** `--tidb v1,v2 --pd=latest` → { tidb: ["v1","v2"], pd: ["latest"] }; known flags are skipped. */
function componentFlags(rawArgs: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (!arg.startsWith("--")) {
      if (arg.startsWith("-") && arg.length === 2) {
        const spec = Object.values(FLAGS).find((f) => f.short === arg.slice(1));
        if (spec?.type === "string") i++;
      }
      continue;
    }
    const [name = "", inline] = arg.slice(2).split(/=(.*)/s);
    if (name in FLAGS) {
      if (FLAGS[name]!.type === "string" && inline === undefined) i++;
      continue;
    }
    const value = inline ?? rawArgs[++i];
    if (value === undefined || value.startsWith("-")) {
      throw new UsageError(
        `Cannot use --${name}: it needs versions, as in --${name} v1.0.0,latest`,
      );
    }
    const values = value.split(",").map((v) => v.trim()).filter((v) => v !== "");
    out[name] = [...(out[name] ?? []), ...values];
  }
  return out;
}
