import * as nodePath from "node:path";
import { defineCommand } from "../../lib/cli/command.ts";
import { createOutput } from "../../lib/cli/output.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { DEFAULT_MIRROR } from "../../lib/client/resolve_mirror_address.ts";
import { setMirror } from "../../lib/client/set_mirror.ts";
import { isTiupProfile } from "../../lib/client/tiup_profile.ts";
import { NotFoundError, StorageError, UsageError } from "../../lib/errors.ts";
import { MAX_ROOT_BYTES } from "../../lib/format/repo_defaults.ts";
import { isRemoteLocation, openStorage } from "../../lib/storage/open_storage.ts";
import { readBytes } from "../../lib/storage/read_bytes.ts";
import { printRootTrust } from "../_client_context.ts";

/** `ferry mirror set <addr>`: choose the mirror and the root.json to trust for it. */
export const mirrorSetCommand = defineCommand({
  usage: "<DIR|URL> [-r|--root FILE|URL] [--silent]  |  --reset",
  description: `Writes mirror = "<addr>" to $FERRY_HOME/ferry.toml, copies the trusted root to
$FERRY_HOME/bin/root.json and clears the manifest cache. A directory becomes an absolute path.
In a TiUP profile ($TIUP_HOME without $FERRY_HOME, ~/.tiup, or one with a tiup.toml) the
address goes to TiUP's tiup.toml instead, so tiup and ferry use the same mirror.

The root trusted is, first match: --root; for an http(s) mirror, the copy cached for that
exact address in bin/; else the mirror's own root.json (trust on first use: compare the key
IDs printed with the mirror owner's). The root must be signed by a threshold of its own keys,
and the mirror's manifests must verify from it: a root of another mirror is refused, and
nothing is changed.

--reset selects the default mirror, TiUP's official ${DEFAULT_MIRROR}
(ferry has no public mirror of its own).

Examples:
  ferry mirror set /data/mirror
  ferry mirror set https://tiup-mirror.example.com --root ./root.json
  ferry mirror set --reset`,
  flags: {
    root: {
      type: "string",
      short: "r",
      valueName: "FILE|URL",
      description: "The root.json to trust instead of the mirror's own",
    },
    reset: { type: "boolean", description: `Use the default mirror (${DEFAULT_MIRROR})` },
    silent: { type: "boolean", description: "Print nothing but errors" },
  },
  positionals: { max: 1, names: "<DIR|URL>" },
  async run({ args, options, env, out }) {
    const reset = options.reset;
    const given = args[0];
    if (reset && given !== undefined) {
      throw new UsageError(`Give either a mirror address or --reset, not both`);
    }
    if (!reset && given === undefined) {
      throw new UsageError(
        `"ferry mirror set" needs a mirror: a directory or an http(s) URL (or --reset for ${DEFAULT_MIRROR})`,
      );
    }
    const address = reset ? DEFAULT_MIRROR : given!;
    const rootFlag = options.root;
    const root = rootFlag === undefined ? undefined : await readRoot(rootFlag);
    const output = options.silent
      ? createOutput({ stdout: { write: () => {} }, stderr: { write: () => {} } })
      : out;
    if (reset) output.info(`Resetting to the default mirror ${DEFAULT_MIRROR}`);
    const result = await setMirror(ferryHome(env), address, {
      ...(root ? { root } : {}),
      tiupProfile: isTiupProfile(env),
    });
    printRootTrust(output, result);
    output.print(`Mirror set to ${result.address}`);
  },
});

/** Reads `--root FILE|URL` with the root size cap. */
async function readRoot(location: string): Promise<{ bytes: Uint8Array; from: string }> {
  let dir: string;
  let file: string;
  if (isRemoteLocation(location)) {
    const url = new URL(location);
    const slash = url.pathname.lastIndexOf("/");
    file = decodeURIComponent(url.pathname.slice(slash + 1));
    url.pathname = url.pathname.slice(0, slash + 1);
    url.search = "";
    dir = url.href;
  } else {
    const path = nodePath.resolve(location);
    dir = nodePath.dirname(path);
    file = nodePath.basename(path);
  }
  if (file === "") throw new UsageError(`Cannot read --root "${location}": it names no file`);
  try {
    return {
      bytes: await readBytes(openStorage(dir), file, { maxBytes: MAX_ROOT_BYTES }),
      from: location,
    };
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new StorageError(`Cannot read --root "${location}": it does not exist`);
    }
    throw error;
  }
}
