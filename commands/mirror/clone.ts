import { stat } from "node:fs/promises";
import * as nodePath from "node:path";
import {
  defineCommand,
  dynamicListFlags,
  type FlagSpecs,
  parseIntegerFlag,
} from "../../lib/cli/command.ts";
import { ExitCode, exitCodeForAll } from "../../lib/cli/exit_codes.ts";
import type { Output } from "../../lib/cli/output.ts";
import { createProgress, NO_PROGRESS } from "../../lib/cli/progress.ts";
import { type CloneStart, cloneWithProfile } from "../../lib/mirror/clone/clone_with_profile.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { UsageError } from "../../lib/errors.ts";
import type { DirectoryCloneReport } from "../../lib/mirror/clone/clone_into_directory.ts";
import { DEFAULT_JOBS } from "../../lib/mirror/clone/download_files.ts";
import { checkWritableDirectory } from "../_check_writable.ts";
import { platformFlag } from "../_platform_flags.ts";

const FLAGS = {
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
  "no-tarballs": {
    type: "boolean",
    description:
      "Write the manifests of what is selected but fetch no tarball (for serve --upstream)",
  },
  json: { type: "boolean", description: "Print a JSON summary on stdout" },
} as const satisfies FlagSpecs;

/** `ferry mirror clone <target-dir> [global-version...]` */
export const mirrorCloneCommand = defineCommand({
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
  ferry mirror clone pkg --tidb latest --no-tarballs   # then: ferry mirror serve pkg --upstream URL
  tar czf pkg.tar.gz pkg        # then, offline: tar xzf pkg.tar.gz && sh pkg/local_install.sh`,
  flags: FLAGS,
  positionals: { min: 1, names: "<target-dir>" },
  dynamicFlags: true,
  async run({ args, options, dynamicFlags, out, env, signal }) {
    const [targetDir, ...versions] = args;
    const jobs = parseIntegerFlag("jobs", options.jobs, { min: 1, max: 256 }) ?? DEFAULT_JOBS;
    const os = platformFlag("os", options.os);
    const arch = platformFlag("arch", options.arch);
    const components = dynamicListFlags(
      dynamicFlags,
      (name) =>
        new UsageError(`Cannot use --${name}: it needs versions, as in --${name} v1.0.0,latest`),
    );
    const progress = options.json ? NO_PROGRESS : createProgress(out, "Cloning");
    let started = Date.now();
    let report;
    try {
      report = await cloneWithProfile(ferryHome(env), targetDir!, {
        env,
        source: options.source,
        sourceRoot: options["source-root"],
        self: options["skip-ferry-binary"]
          ? undefined
          : { binary: options["ferry-binary"], directory: options["ferry-binaries"] },
        beforeClone: async (start) => {
          await announce(out, start);
          started = Date.now();
        },
        os,
        arch,
        full: options.full,
        prefix: options.prefix,
        overwrite: options.overwrite,
        ...(options["no-tarballs"] ? { noTarballs: true } : {}),
        components,
        versions,
        jobs,
        signal,
        onProgress: (event) => progress.update(event),
        ...(options["public-url"] ? { publicUrl: options["public-url"] } : {}),
      });
    } finally {
      progress.stop();
    }
    return printReport(out, report, {
      seconds: (Date.now() - started) / 1000,
      json: options.json,
      ignoreMissing: options["ignore-missing"],
    });
  },
});

/** Prints what the clone did (as text or `--json`) and returns the exit code it calls for. */
function printReport(
  out: Output,
  report: DirectoryCloneReport,
  { seconds, json, ignoreMissing }: { seconds: number; json: boolean; ignoreMissing: boolean },
): number {
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
  if (report.missing.length > 0 && !ignoreMissing) {
    out.error(
      `${report.missing.length} file(s) are missing from the source (listed above); ` +
        `the rest was cloned. Pass --ignore-missing to accept that`,
    );
    return ExitCode.failure;
  }
  return ExitCode.ok;
}

/**
 * Says which ferry binaries the clone publishes and where it goes, after refusing a place that
 * cannot be written: the clone is built beside the target (or in it, when it is already a
 * mirror), so this is checked before anything is fetched.
 */
async function announce(out: Output, start: CloneStart): Promise<void> {
  const { self, target, bucket } = start;
  if (!self) {
    out.info("Not publishing ferry itself into the mirror (--skip-ferry-binary)");
  } else if (Object.keys(self.binaries).length === 0) {
    out.warn(
      "Not publishing ferry itself into the mirror: this is not a compiled ferry binary " +
        "(pass --ferry-binary FILE or --ferry-binaries DIR); local_install.sh will need " +
        "ferry or tiup packages from the source",
    );
  } else {
    out.info(`ferry binaries for: ${Object.keys(self.binaries).sort().join(", ")}`);
  }
  const existing = !bucket && await stat(target).then((info) => info.isDirectory(), () => false);
  const parent = nodePath.dirname(target);
  if (!bucket && (existing || await stat(parent).then((i) => i.isDirectory(), () => false))) {
    await checkWritableDirectory(existing ? target : parent, `Cannot clone into "${target}"`);
  }
  out.info(`Cloning ${start.source} into ${target}`);
}
