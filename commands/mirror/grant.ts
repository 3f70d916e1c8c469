import * as nodePath from "node:path";
import { defineCommand } from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";
import { grantOwner } from "../../lib/writer/grant_owner.ts";
import { loadKeyFile } from "../../lib/format/load_key.ts";
import {
  defaultKeyPath,
  lockReporting,
  MIRROR_FLAGS,
  openMirror,
  reportUpdate,
  resolveMirrorDir,
} from "./_writer_context.ts";

export const mirrorGrantCommand = defineCommand({
  usage: "<OWNER-ID> [-n NAME] [-k KEYFILE] [--mirror DIR] [--key-dir DIR]",
  description: `Adds an owner to the mirror's index, as \`tiup mirror grant\` does: components the
owner publishes are signed with its key. -k takes a private or a public key file (genkey --save
writes the public one), default $FERRY_HOME/keys/private.json. Local mirrors only. Refused: the IDs
root, index, snapshot and timestamp (they would clobber the mirror's role keys in TiUP clients), an
existing owner ID, and a key another owner already has.

Examples:
  ferry mirror grant $USER
  ferry mirror grant jdoe -n "Jane Doe" -k 1a2b3c4d5e6f7a8b-public.json --mirror /data/mirror`,
  flags: {
    name: {
      type: "string",
      short: "n",
      valueName: "NAME",
      description: "Owner's name (default: the ID)",
    },
    key: {
      type: "string",
      short: "k",
      valueName: "KEYFILE",
      description: "Owner's key file, private or public (default: $FERRY_HOME/keys/private.json)",
    },
    ...MIRROR_FLAGS,
  },
  positionals: { min: 1, max: 1, names: "OWNER-ID" },
  async run({ args, options, out, env }) {
    const id = args[0]!;
    const dir = await resolveMirrorDir(options.mirror, env, "grant");
    const keyPath = options.key ?? defaultKeyPath(env);
    const loaded = await loadKeyFile(keyPath).catch((error) => {
      if (options.key === undefined && /ENOENT/.test(error.message)) {
        throw new UsageError(
          `Cannot find the key "${keyPath}": create it with "ferry mirror genkey", or pass -k FILE`,
        );
      }
      throw error;
    });
    const publicInfo = loaded.kind === "private" ? loaded.key.publicInfo : loaded.publicInfo;
    const name = options.name;
    const { storage, keys } = openMirror(dir, options["key-dir"], env);
    const result = await grantOwner(storage, {
      id,
      ...(name !== undefined ? { name } : {}),
      key: publicInfo,
    }, { keys, ...lockReporting(out, options["lock-wait"]) });
    const keyId = loaded.kind === "private" ? loaded.key.id : loaded.id;
    reportUpdate(
      out,
      result,
      `Granted "${id}" (key ${keyId.slice(0, 16)} from ${nodePath.basename(keyPath)}) on ${dir}`,
    );
    return 0;
  },
});
