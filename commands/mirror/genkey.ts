import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { defineCommand } from "../../lib/cli/command.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { UsageError } from "../../lib/errors.ts";
import { generateSigningKey } from "../../lib/format/generate_key.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import { loadSigningKey } from "../../lib/format/load_key.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";

export const mirrorGenkeyCommand = defineCommand({
  usage: "[-n NAME] [-p|--public] [--save]",
  description: `Generates a 2048-bit RSA key in TiUP's format and saves the private key as
$FERRY_HOME/keys/NAME.json (mode 0600). An existing key is never overwritten: genkey skips with a
warning. -p prints the key ID and public key of the (existing) key; --save also writes the public
key to ./<id16>-public.json, to hand to the mirror admin for "ferry mirror grant -k".

Examples:
  ferry mirror genkey                    # $FERRY_HOME/keys/private.json
  ferry mirror genkey -n jdoe --save     # keys/jdoe.json and ./<id16>-public.json
  ferry mirror genkey -p                 # KeyID: … and the public key`,
  flags: {
    name: {
      type: "string",
      short: "n",
      valueName: "NAME",
      default: "private",
      description: "Key name: the file is $FERRY_HOME/keys/NAME.json",
    },
    public: { type: "boolean", short: "p", description: "Show the public key of the existing key" },
    save: { type: "boolean", description: "Also save the public key to ./<id16>-public.json" },
  },
  positionals: { max: 0 },
  async run({ options, out, env }) {
    const name = options.name ?? "private";
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
      throw new UsageError(`Cannot use key name "${name}": use letters, digits and . _ - only`);
    }
    const keyDir = nodePath.join(ferryHome(env), "keys");
    const path = nodePath.join(keyDir, `${name}.json`);
    const exists = await fs.stat(path).then(() => true, () => false);
    let key: SigningKey;
    if (exists) {
      if (!options.public && !options.save) {
        out.warn(`Key already exists, skipped: ${path}`);
        return 0;
      }
      key = await loadSigningKey(path);
    } else {
      if (options.public) {
        throw new UsageError(
          `Cannot show "${path}": it does not exist; run "ferry mirror genkey -n ${name}"`,
        );
      }
      out.info("Generating key pair…");
      const generated = await generateSigningKey();
      await fs.mkdir(keyDir, { recursive: true, mode: 0o700 });
      await new LocalStorage(keyDir).write(`${name}.json`, generated.privateFileText, {
        mode: 0o600,
        ifAbsent: true,
      });
      key = generated.key;
      out.info(`Private key has been written to ${path}`);
    }
    if (options.public) {
      out.print(`KeyID: ${key.id}`);
      out.print(JSON.stringify(key.publicInfo, null, "\t"));
    }
    if (options.save) {
      const file = `${key.id.slice(0, 16)}-public.json`;
      await new LocalStorage(process.cwd()).write(file, `${JSON.stringify(key.publicInfo)}\n`, {
        mode: 0o644,
      });
      out.info(`Public key has been written to ${nodePath.resolve(file)}`);
    }
    if (!exists && !options.public) out.print(`KeyID: ${key.id}`);
    return 0;
  },
});
