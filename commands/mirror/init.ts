import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { defineCommand } from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";
import { initRepository } from "../../lib/writer/init_repository.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { isS3Location, openWritableStorage } from "../../lib/storage/open_storage.ts";
import { parseS3Location } from "../../lib/storage/s3_location.ts";

export const mirrorInitCommand = defineCommand({
  usage: "<PATH|s3://BUCKET/PREFIX> [-k|--key-dir DIR]",
  description: `Creates an empty TiUP-compatible repository in PATH, which must be an empty
directory (it is created if missing), exactly as \`tiup mirror init\` does: 3 root keys, one index,
snapshot and timestamp key, saved as DIR/<id16>-<role>.json (mode 0600; DIR defaults to
PATH/keys, which \`ferry mirror serve\` never serves). root.json and the index last a year;
snapshot.json and timestamp.json 30 days (every publish, grant or renew extends them).

Examples:
  ferry mirror init /data/mirror
  ferry mirror init /data/mirror -k /secure/mirror-keys

Next: ferry mirror genkey; ferry mirror set /data/mirror; ferry mirror grant $USER`,
  flags: {
    "key-dir": {
      type: "string",
      short: "k",
      valueName: "DIR",
      description: "Where to write the private keys (default: PATH/keys)",
    },
  },
  positionals: { min: 1, max: 1, names: "PATH" },
  async run({ args, options, out, env }) {
    const s3 = isS3Location(args[0]!);
    if (s3) parseS3Location(args[0]!);
    const dir = s3 ? args[0]! : nodePath.resolve(args[0]!);
    const info = s3 ? undefined : await fs.stat(dir).catch(() => undefined);
    if (info && !info.isDirectory()) {
      throw new UsageError(`Cannot create a mirror in "${dir}": it is a file, not a directory`);
    }
    const keyDir = options["key-dir"];
    const storage = openWritableStorage(dir, { env });
    const keyOutput = keyDir
      ? { storage: new LocalStorage(nodePath.resolve(keyDir)), prefix: "" }
      : { storage, prefix: "keys/" };
    if (keyDir) {
      const relative = nodePath.relative(dir, nodePath.resolve(keyDir));
      if (
        !s3 && !relative.startsWith("..") && !nodePath.isAbsolute(relative) && relative !== "keys"
      ) {
        out.warn(
          `The key directory "${keyDir}" is inside the mirror: anyone who can read the mirror ` +
            `can read the keys unless it is "keys" (never served) or outside`,
        );
      }
    }
    const result = await initRepository(storage, { keyOutput });
    out.print(`Created an empty mirror in ${dir}`);
    const keyLocation = keyOutput.storage.location;
    for (const file of result.keyFiles) {
      // A path join would fold an s3:// URL's double slash.
      out.info(
        `  key: ${s3 && !keyDir ? `${keyLocation}/${file}` : nodePath.join(keyLocation, file)}`,
      );
    }
    out.info(`Keep the keys safe: whoever holds them can sign for this mirror.`);
    out.info(`Next: ferry mirror genkey; ferry mirror set ${dir}; ferry mirror grant $USER`);
    return 0;
  },
});
