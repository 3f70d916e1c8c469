import { defineCommand } from "../../lib/cli/command.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { resolveMirrorAddress } from "../../lib/client/resolve_mirror_address.ts";

/** `ferry mirror show`: the mirror address client commands use. */
export const mirrorShowCommand = defineCommand({
  usage: "",
  description: `Prints the effective mirror: $FERRY_MIRROR, else $TIUP_MIRRORS, else mirror = "…" in
$FERRY_HOME/tiup.toml (a profile shared with tiup) or ferry.toml, else the default (TiUP's
official mirror).
Where it came from is noted on stderr.`,
  flags: {},
  positionals: { max: 0 },
  async run({ env, out }) {
    const mirror = await resolveMirrorAddress(ferryHome(env), env);
    out.print(mirror.address);
    const from = mirror.source === "config"
      ? `from ${mirror.configFile}`
      : mirror.source === "default"
      ? `the default; set one with "ferry mirror set"`
      : `from $${mirror.source}`;
    out.info(`(${from})`);
  },
});
