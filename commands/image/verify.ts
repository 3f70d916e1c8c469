import { openWritableStorage } from "../../lib/storage/open_storage.ts";
import { parseNowFlag, readRootFlag } from "../_verify_flags.ts";
import { defineCommand, parseIntegerFlag } from "../../lib/cli/command.ts";
import { ExitCode } from "../../lib/cli/exit_codes.ts";
import { createProgress, NO_PROGRESS } from "../../lib/cli/progress.ts";
import { verifyBundle } from "../../lib/image/verify_bundle.ts";

export const imageVerifyCommand = defineCommand({
  usage: "DIR [--root FILE] [--now RFC3339] [--jobs N] [--json]",
  description: `Checks an image bundle offline before it is trusted: the root chain from DIR's
root.json, the inventory's signatures (the bundle's index keys) and expiry, index.json against
the inventory, then every manifest and blob: present, of its signed size, hashing to its
digest. Lists every problem. Exit code 0 when clean, 3 when anything failed.
Trust starts from --root FILE (a root.json got out of band), else from DIR's own root.json.

Examples:
  ferry image verify /srv/bundle
  ferry image verify /srv/bundle --root /media/trusted/root.json
  ferry image verify /srv/bundle --json | jq '.problems[]'`,
  flags: {
    root: {
      type: "string",
      valueName: "FILE",
      description: "Trusted root.json to start from (default: the bundle's own root.json)",
    },
    now: {
      type: "string",
      valueName: "RFC3339",
      description: "Verify as of this time instead of now (e.g. 2026-01-01T00:00:00Z)",
    },
    jobs: {
      type: "string",
      short: "j",
      valueName: "N",
      default: "4",
      description: "Blobs hashed at once",
    },
    json: { type: "boolean", description: "Print the report as JSON: {ok, problems, counts}" },
  },
  positionals: { min: 1, max: 1, names: "DIR" },
  async run({ args, options, out, env, signal }) {
    const dir = args[0]!;
    const now = parseNowFlag(options.now);
    const root = await readRootFlag(options.root);
    const json = options.json;
    const progress = json ? NO_PROGRESS : createProgress(out, "Verifying blobs");
    const report = await verifyBundle(openWritableStorage(dir, { env }), {
      ...(now ? { now } : {}),
      ...(root ? { root } : {}),
      jobs: parseIntegerFlag("jobs", options.jobs, { min: 1, max: 64 }) ?? 4,
      onProgress: (event) => progress.update(event),
      signal,
    }).finally(() => progress.stop());
    if (json) {
      out.json(report);
    } else {
      const c = report.counts;
      out.print(
        `Bundle ${dir}${report.inventoryVersion ? `: inventory v${report.inventoryVersion}` : ""}`,
      );
      out.print(
        `Checked ${c.images} tags, ${c.manifests} manifests and ${c.blobs} blobs ` +
          `(${(c.bytes / 1e6).toFixed(1)} MB)`,
      );
      if (report.ok) out.print("OK: no problems found");
      else {
        out.print(`${report.problems.length} problem(s):`);
        for (const p of report.problems) out.print(`  ${p.file} [${p.kind}]: ${p.message}`);
      }
    }
    if (!report.ok) {
      out.error(
        `Bundle verification failed with ${report.problems.length} problem(s); do not trust it`,
      );
    }
    return report.ok ? ExitCode.ok : ExitCode.verification;
  },
});
