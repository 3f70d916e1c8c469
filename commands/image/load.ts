import { openWritableStorage } from "../../lib/storage/open_storage.ts";
import { defineCommand } from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";
import { loadBundle } from "../../lib/image/load_bundle.ts";

export const imageLoadCommand = defineCommand({
  usage: "DELTA --into DIR",
  description: `Verifies a delta from "ferry image diff" against DIR's own root.json (signatures,
expiry, no older than DIR's inventory) and every manifest and blob it brings against its
digest, then merges it into DIR. A tampered or incomplete delta changes nothing.

Example:
  ferry image load /media/usb/delta --into /srv/bundle`,
  flags: {
    into: { type: "string", valueName: "DIR", description: "The bundle to merge into" },
  },
  positionals: { min: 1, max: 1, names: "DELTA" },
  async run({ args, options, out, env }) {
    const into = options.into;
    if (into === undefined) throw new UsageError("Cannot load: name the bundle with --into DIR");
    const report = await loadBundle(
      openWritableStorage(args[0]!, { env }),
      openWritableStorage(into, { env }),
    );
    out.print(
      `Loaded inventory v${report.version} into ${into}: ${report.files} manifests and blobs ` +
        `(${(report.bytes / 1e6).toFixed(2)} MB) verified and added`,
    );
    return 0;
  },
});
