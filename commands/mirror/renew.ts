import { defineCommand } from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";
import { renewComponent } from "../../lib/writer/renew_component.ts";
import {
  KEY_FLAG,
  loadOwnerKey,
  lockReporting,
  MIRROR_FLAGS,
  openMirror,
  parseDaysFlag,
  reportUpdate,
  resolveMirrorDir,
} from "./_writer_context.ts";

export const mirrorRenewCommand = defineCommand({
  usage:
    "[COMPONENT] [-k KEY] [--days N] [--index-days N] [--snapshot-days N] [--timestamp-days N] [--mirror DIR]",
  description: `Re-signs manifests with a later expiry; nothing is ever shortened. Unlike TiUP, it
works on a mirror that has already expired (TiUP #1871), and it can give snapshot.json and
timestamp.json more than 30 days (TiUP #2399) — a mirror copied to an offline network can then
stay valid for as long as you choose.

  COMPONENT          renew its manifest (a new version, signed with -k): --days N, default 5 years
  --index-days N     also re-sign the index to live N days
  --snapshot-days N  snapshot.json lives N days (default 30)
  --timestamp-days N timestamp.json lives N days (default 30)

Every renew re-signs the snapshot and timestamp. root.json expiry changes only by rotation.

Examples:
  ferry mirror renew hello --days 365
  ferry mirror renew --snapshot-days 365 --timestamp-days 365 --index-days 365`,
  flags: {
    key: KEY_FLAG,
    days: {
      type: "string",
      valueName: "N",
      description: "Days the component manifest stays valid (0 or absent: 5 years)",
    },
    "index-days": { type: "string", valueName: "N", description: "Re-sign the index for N days" },
    "snapshot-days": {
      type: "string",
      valueName: "N",
      description: "Days snapshot.json stays valid (default 30)",
    },
    "timestamp-days": {
      type: "string",
      valueName: "N",
      description: "Days timestamp.json stays valid (default 30)",
    },
    ...MIRROR_FLAGS,
  },
  positionals: { max: 1, names: "[COMPONENT]" },
  async run({ args, options, out, env }) {
    const component = args[0];
    const days = parseDaysFlag("days", options.days);
    if (days !== undefined && component === undefined) {
      throw new UsageError(`--days applies to a component: ferry mirror renew COMPONENT --days N`);
    }
    const dir = await resolveMirrorDir(options.mirror, env, "renew");
    const key = component === undefined ? undefined : await loadOwnerKey(options.key, env);
    const { storage, keys } = openMirror(dir, options["key-dir"], env);
    const indexDays = parseDaysFlag("index-days", options["index-days"]);
    const snapshotDays = parseDaysFlag("snapshot-days", options["snapshot-days"]);
    const timestampDays = parseDaysFlag("timestamp-days", options["timestamp-days"]);
    const result = await renewComponent(storage, {
      ...(component !== undefined ? { component } : {}),
      ...(days !== undefined ? { days } : {}),
      ...(indexDays !== undefined ? { indexDays } : {}),
      ...(snapshotDays !== undefined ? { snapshotDays } : {}),
      ...(timestampDays !== undefined ? { timestampDays } : {}),
    }, { ...(key ? { key } : {}), keys, ...lockReporting(out, options["lock-wait"]) });
    reportUpdate(out, result, `Renewed ${component ?? "the repository"} in ${dir}`);
    return 0;
  },
});
