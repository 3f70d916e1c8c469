import { isS3Location, openWritableStorage } from "../../lib/storage/open_storage.ts";
import { mkdir, readFile } from "node:fs/promises";
import { defineCommand } from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";
import { diffBundle } from "../../lib/image/diff_bundle.ts";
import { MAX_INVENTORY_BYTES } from "../../lib/image/inventory.ts";
import { checkWritableDirectory } from "../_check_writable.ts";

export const imageDiffCommand = defineCommand({
  usage: "DIR --have FAR-INVENTORY -o DELTA",
  description: `Writes into DELTA only what the far side lacks: DIR's signed inventory and the
manifests and blobs it lists that FAR-INVENTORY (a copy of the far side's DIR/images.json)
does not. Carry DELTA across and run "ferry image load DELTA --into DIR" there.

Example:
  ferry image diff /srv/bundle --have far-images.json -o /media/usb/delta`,
  flags: {
    have: {
      type: "string",
      valueName: "FILE",
      description: "The far side's images.json (what it already has)",
    },
    output: { type: "string", short: "o", valueName: "DELTA", description: "Where the delta goes" },
  },
  positionals: { min: 1, max: 1, names: "DIR" },
  async run({ args, options, out, env }) {
    const have = options.have;
    const output = options.output;
    if (have === undefined) {
      throw new UsageError("Cannot diff: name the far side's inventory with --have FILE");
    }
    if (output === undefined) {
      throw new UsageError("Cannot diff: name the delta directory with -o DELTA");
    }
    const bytes = await readFile(have).catch((error) => {
      throw new UsageError(`Cannot read --have "${have}": ${error.code ?? error.message}`);
    });
    if (bytes.length > MAX_INVENTORY_BYTES) {
      throw new UsageError(`Cannot use --have "${have}": too large`);
    }
    if (!isS3Location(output)) {
      await mkdir(output, { recursive: true });
      await checkWritableDirectory(output, `Cannot write the delta into "${output}"`);
    }
    const report = await diffBundle(
      openWritableStorage(args[0]!, { env }),
      new Uint8Array(bytes),
      openWritableStorage(output, { env }),
    );
    out.print(
      `Delta ${output}: inventory v${report.version}, ${report.files} manifests and blobs, ` +
        `${(report.bytes / 1e6).toFixed(2)} MB`,
    );
    return 0;
  },
});
