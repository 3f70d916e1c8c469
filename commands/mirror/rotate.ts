import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { defineCommand, parseIntegerFlag, splitList } from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";
import { loadKeyFile } from "../../lib/format/load_key.ts";
import { prepareRootRotation } from "../../lib/writer/prepare_root_rotation.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import { rotateRoot } from "../../lib/writer/rotate_root.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import {
  lockReporting,
  MIRROR_FLAGS,
  openMirror,
  parseDaysFlag,
  reportUpdate,
  resolveMirrorDir,
} from "./_writer_context.ts";

export const mirrorRotateCommand = defineCommand({
  usage:
    "[MIRROR] --prepare [--expires-days N] [--add-key FILE]... [--remove-key ID]... [--threshold N] [-o FILE] | [MIRROR] --apply FILE",
  description: `Publishes root version N+1 without any server or editor (TiUP's rotate needs both):

  1. ferry mirror rotate /data/mirror --prepare --add-key new-public.json --remove-key 1a2b3c4d -o new-root.json
     writes the next root, unsigned (expiry: now + --expires-days, default 365, never earlier
     than the current root's).
  2. Each key holder signs it, on their own machine if they like:
     ferry mirror sign new-root.json -k 1a2b3c4d5e6f7a8b-root.json
  3. ferry mirror rotate /data/mirror --apply new-root.json
     checks it is version N+1, signed by a threshold of the current root keys AND a threshold of
     its own root keys (what TiUP clients check), writes N+1.root.json (root.json is never
     rewritten), then a new snapshot and timestamp. Root keys found in the mirror's key
     directory (or --key-dir) sign automatically.

--add-key/--remove-key/--threshold change the root role. Clients pick up the new root by
themselves. An expired root (TiUP #2722) is fixed the same way: --prepare, sign, --apply.`,
  flags: {
    prepare: { type: "boolean", description: "Write the next root, unsigned, to -o FILE" },
    apply: {
      type: "string",
      valueName: "FILE",
      description: "Check and publish a signed next root",
    },
    "expires-days": {
      type: "string",
      valueName: "N",
      description: "New root lifetime in days from now (default 365)",
    },
    "add-key": {
      type: "string",
      multiple: true,
      valueName: "FILE",
      description: "Add this key (public or private key file) to the root role",
    },
    "remove-key": {
      type: "string",
      multiple: true,
      valueName: "ID",
      description: "Remove this root key (ID or its first 8+ hex digits)",
    },
    threshold: { type: "string", valueName: "N", description: "New root signature threshold" },
    output: {
      type: "string",
      short: "o",
      valueName: "FILE",
      default: "new-root.json",
      description: "Where --prepare writes (never overwritten)",
    },
    ...MIRROR_FLAGS,
  },
  positionals: { max: 1, names: "[MIRROR]" },
  async run({ args, options, out, env }) {
    const prepare = options.prepare;
    const apply = options.apply;
    if (prepare === (apply !== undefined)) {
      throw new UsageError(
        `"ferry mirror rotate" needs either --prepare or --apply FILE (see "ferry mirror rotate --help")`,
      );
    }
    const dir = await resolveMirrorDir(args[0] ?? options.mirror, env, "rotate", {
      readOnly: prepare,
    });
    const { storage, keys } = openMirror(dir, options["key-dir"], env);
    if (apply !== undefined) {
      const bytes = await fs.readFile(apply).catch((error) => {
        throw new UsageError(`Cannot read "${apply}": ${error.code ?? error.message}`);
      });
      const result = await rotateRoot(storage, new Uint8Array(bytes), {
        file: apply,
        keys,
        ...lockReporting(out, options["lock-wait"]),
      });
      reportUpdate(
        out,
        result,
        `Published ${result.rootPath} in ${dir} (signed by ${result.signedBy.length} keys)`,
      );
      return 0;
    }
    const addKeys = [];
    for (const file of splitList(options["add-key"])) {
      const loaded = await loadKeyFile(file);
      addKeys.push(loaded.kind === "private" ? loaded.key.publicInfo : loaded.publicInfo);
    }
    const threshold = parseIntegerFlag("threshold", options.threshold, { min: 1, max: 1000 });
    const expiresDays = parseDaysFlag("expires-days", options["expires-days"]);
    const state = await loadRepositoryState(storage);
    const current = state.root.manifest.signed;
    const prepared = prepareRootRotation(current, {
      addKeys,
      removeKeys: splitList(options["remove-key"]),
      ...(threshold !== undefined ? { threshold } : {}),
      ...(expiresDays !== undefined ? { expiresDays } : {}),
    }, { now: new Date() });
    const output = nodePath.resolve(options.output ?? "new-root.json");
    await new LocalStorage(nodePath.dirname(output))
      .write(nodePath.basename(output), prepared.bytes, { ifAbsent: true, mode: 0o644 })
      .catch((error) => {
        if (error?.name === "AlreadyExistsError") {
          throw new UsageError(
            `Cannot write "${output}": it exists (maybe with signatures); choose another -o FILE`,
          );
        }
        throw error;
      });
    const next = prepared.envelope.signed;
    out.print(`Wrote ${output}: root version ${next.version}, expires ${next.expires}, unsigned`);
    out.info(
      `It needs ${current.roles.root.threshold} signatures from root v${current.version}'s keys: ${
        Object.keys(current.roles.root.keys).map((id) => id.slice(0, 16)).join(", ")
      }`,
    );
    out.info(
      `and ${next.roles.root.threshold} from its own root keys: ${
        Object.keys(next.roles.root.keys).map((id) => id.slice(0, 16)).join(", ")
      }`,
    );
    out.info(`Next: ferry mirror sign ${output} -k KEYFILE   (each key holder)`);
    out.info(`then: ferry mirror rotate ${dir} --apply ${output}`);
    return 0;
  },
});
