import * as nodePath from "node:path";
import { defineCommand, parseIntegerFlag } from "../../lib/cli/command.ts";
import { ExitCode, exitCodeForAll } from "../../lib/cli/exit_codes.ts";
import { createProgress, NO_PROGRESS } from "../../lib/cli/progress.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { UsageError } from "../../lib/errors.ts";
import { loadSigningKeys } from "../../lib/mirror/clone/load_signing_keys.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import { mergeMirror, type MergeReport } from "../../lib/mirror/merge/merge_mirror.ts";
import { MIRROR_KEYS_PREFIX } from "../../lib/format/repo_defaults.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { openStorage, openWritableStorage } from "../../lib/storage/open_storage.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { FERRY_VERSION } from "../../lib/version.ts";
import { resolveMirrorDir } from "./_writer_context.ts";

/** `ferry mirror merge <dir|url>... [--key-dir DIR]` */
export const mirrorMergeCommand = defineCommand({
  usage: "<DIR|URL>... [--mirror DIR] [--key-dir DIR] [--owner ID] [--json]",
  description: `Adds every version the other mirrors have and this one lacks. Each source is first
verified from its own root.json (TiUP trusts it blindly), every tarball is checked against the
source's signed hashes, and each version is published with the key of the component's owner in
this mirror. Owner keys are found by key ID in --key-dir, $FERRY_HOME/keys and the mirror's own
keys/ folder, so a clone's keys need not be copied anywhere (TiUP issue #1120). A version both
mirrors have with different content is reported as a conflict and never overwritten.

Examples:
  ferry mirror set /data/my_mirror && ferry mirror merge /data/my_custom_components
  ferry mirror merge /media/usb/pkg --mirror /srv/mirror --key-dir /media/usb/pkg/keys
  ferry mirror merge http://10.0.0.2:8080 --mirror /srv/mirror --owner pingcap`,
  flags: {
    mirror: {
      type: "string",
      valueName: "DIR",
      description:
        "Mirror to merge into (default: $FERRY_MIRROR, $TIUP_MIRRORS, then `ferry mirror set`)",
    },
    "key-dir": {
      type: "string",
      valueName: "DIR",
      description: "Folder of owner private keys (also read: $FERRY_HOME/keys, <mirror>/keys)",
    },
    owner: {
      type: "string",
      valueName: "ID",
      description: "Owner of components new to this mirror (when it cannot be told)",
    },
    jobs: {
      type: "string",
      short: "j",
      valueName: "N",
      default: "8",
      description: "Parallel downloads",
    },
    json: { type: "boolean", description: "Print a JSON summary on stdout" },
  },
  positionals: { min: 1, names: "<DIR|URL>..." },
  async run({ args, options, out, env, signal }) {
    const dir = await resolveMirrorDir(options.mirror, env, "merge");
    const base = openWritableStorage(dir, { env });
    const jobs = parseIntegerFlag("jobs", options.jobs, { min: 1, max: 256 }) ?? 8;
    const keys = new Map<string, SigningKey>();
    const keyDir = options["key-dir"];
    const keySources: Array<readonly [Storage, string]> = [
      [base, MIRROR_KEYS_PREFIX],
      [new LocalStorage(nodePath.join(ferryHome(env), "keys")), ""],
      ...(keyDir ? [[new LocalStorage(keyDir), ""] as const] : []),
    ];
    for (const [storage, prefix] of keySources) {
      for (const [id, key] of await loadSigningKeys(storage, prefix)) keys.set(id, key);
    }
    const owner = options.owner;

    const reports: MergeReport[] = [];
    for (const location of args) {
      const source = openStorage(location, { userAgent: `ferry/${FERRY_VERSION}`, env });
      if (
        source.location === base.location || (source instanceof LocalStorage &&
          nodePath.resolve(source.location) === nodePath.resolve(dir))
      ) {
        throw new UsageError(`Cannot merge "${location}" into itself`);
      }
      out.info(`Merging ${source.location} into ${dir}`);
      const progress = options.json ? NO_PROGRESS : createProgress(out, "Fetching");
      try {
        reports.push(
          await mergeMirror(base, source, {
            keys,
            jobs,
            signal,
            ...(owner ? { owner } : {}),
            onProgress: (event) => progress.update(event),
          }),
        );
      } finally {
        progress.stop();
      }
    }

    for (const report of reports) {
      for (const note of report.notes) out.info(note);
      for (const c of report.conflicts) {
        out.warn(
          `Conflict: ${c.component} ${c.version} ${c.platform} differs between this mirror ` +
            `(sha256 ${c.baseSha256.slice(0, 16)}…) and ${report.source} ` +
            `(${c.sourceSha256.slice(0, 16)}…): kept this mirror's`,
        );
      }
      for (const path of report.missing) {
        out.warn(`${report.source} has no "${path}": not merged`);
      }
      for (const f of report.failed) out.error(`${f.path}: ${f.error.message}`);
    }
    const added = reports.flatMap((r) => r.added);
    if (options.json) {
      out.json({
        mirror: dir,
        sources: reports.map((r) => ({
          source: r.source,
          added: r.added,
          alreadyPresent: r.alreadyPresent,
          conflicts: r.conflicts,
          missing: r.missing,
          failed: r.failed.map((f) => ({ path: f.path, error: f.error.message })),
        })),
      });
    } else {
      for (const a of added) out.print(`Merged ${a.component} ${a.version} ${a.platform}`);
      out.print(
        `${added.length} version(s) merged into ${dir}; ` +
          `${reports.reduce((n, r) => n + r.alreadyPresent, 0)} already there, ` +
          `${reports.reduce((n, r) => n + r.conflicts.length, 0)} conflict(s)`,
      );
    }
    const failures = reports.flatMap((r) => r.failed.map((f) => f.error));
    if (failures.length > 0) return exitCodeForAll(failures);
    if (reports.some((r) => r.conflicts.length > 0 || r.missing.length > 0)) {
      return ExitCode.failure;
    }
    return ExitCode.ok;
  },
});
