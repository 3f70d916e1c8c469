import { parseNowFlag, readRootFlag } from "../_verify_flags.ts";
import { defineCommand, parseIntegerFlag } from "../../lib/cli/command.ts";
import { ExitCode } from "../../lib/cli/exit_codes.ts";
import { createProgress, NO_PROGRESS } from "../../lib/cli/progress.ts";
import { verifyMirror } from "../../lib/mirror/verify_mirror.ts";
import { openStorage } from "../../lib/storage/open_storage.ts";

export const mirrorVerifyCommand = defineCommand({
  usage: "<DIR|URL> [--root FILE] [--now RFC3339] [--jobs N] [--json]",
  description: `Walks the root chain (from --root, else the mirror's own root.json), then timestamp,
snapshot, index and every component manifest, then reads every tarball of every non-yanked
version on every platform and checks its length, sha256 and sha512. It does not stop at the
first problem: it lists every one, with the file it is in. Exit code 0 when clean, 3 when
anything failed.

Examples:
  ferry mirror verify /srv/mirror
  ferry mirror verify https://mirror.example.com --root ~/.tiup/bin/root.json
  ferry mirror verify /srv/mirror --now 2026-01-01T00:00:00Z   # will it still verify then?
  ferry mirror verify /srv/mirror --json | jq '.problems[]'`,
  flags: {
    root: {
      type: "string",
      valueName: "FILE",
      description: "Trusted root.json to start from (default: the mirror's own root.json)",
    },
    now: {
      type: "string",
      valueName: "RFC3339",
      description: "Verify as of this time instead of now (e.g. 2026-01-01T00:00:00Z)",
    },
    jobs: {
      type: "string",
      valueName: "N",
      default: "4",
      description: "Tarballs hashed at once",
    },
    json: { type: "boolean", description: "Print the report as JSON: {ok, problems, counts}" },
  },
  positionals: { min: 1, max: 1, names: "DIR|URL" },
  async run({ args, options, out, signal }) {
    const location = args[0]!;
    const rootFile = options.root;
    const root = await readRootFlag(rootFile);
    const now = parseNowFlag(options.now);
    const jobs = parseIntegerFlag("jobs", options.jobs, { min: 1, max: 64 }) ?? 4;
    const json = options.json;
    const progress = json ? NO_PROGRESS : createProgress(out, "Verifying tarballs");
    const started = performance.now();
    const report = await verifyMirror(openStorage(location), {
      ...(root ? { root, rootFile: rootFile! } : {}),
      ...(now ? { now } : {}),
      concurrency: jobs,
      onProgress: (event) => progress.update(event),
      signal,
    }).finally(() => progress.stop());
    const seconds = (performance.now() - started) / 1000;

    if (json) {
      out.json({ ...report, seconds: Number(seconds.toFixed(3)) });
    } else {
      const { versions: v, counts: c } = report;
      const chain = [
        v.root !== undefined ? `root v${v.root}` : undefined,
        v.timestamp !== undefined ? `timestamp v${v.timestamp}` : undefined,
        v.index !== undefined ? `index v${v.index}` : undefined,
      ].filter(Boolean).join(", ");
      out.print(`Mirror ${location}${chain ? `: ${chain}` : ""}`);
      out.print(
        `Checked ${c.manifests} manifests (${c.components} components) and ${c.tarballs} tarballs ` +
          `(${formatBytes(c.bytes)}) in ${seconds.toFixed(1)} s`,
      );
      for (const warning of report.warnings) out.warn(warning.message);
      if (report.ok) {
        out.print("OK: no problems found");
      } else {
        out.print(`${report.problems.length} problem(s):`);
        for (const p of report.problems) out.print(`  ${p.file} [${p.kind}]: ${p.message}`);
      }
    }
    if (!report.ok) {
      out.error(
        `Mirror verification failed with ${report.problems.length} problem(s); clients would refuse what is listed above`,
      );
    }
    return report.ok ? ExitCode.ok : ExitCode.verification;
  },
});

function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
