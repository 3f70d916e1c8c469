import { type Command, type FlagValues, stringFlag } from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";
import { modifyComponent } from "../../lib/repo/modify_component.ts";
import {
  KEY_FLAG,
  loadOwnerKey,
  lockReporting,
  MIRROR_FLAGS,
  openMirror,
  reportUpdate,
  resolveMirrorDir,
} from "./_writer_context.ts";

export const mirrorModifyCommand: Command = {
  usage:
    "<COMPONENT>[:VERSION] [-k KEY] [--desc TEXT] [--standalone|--no-standalone] [--hide|--no-hide] [--yank|--no-yank] [--mirror DIR]",
  description: `Re-signs the component's manifest as a new version (extending its expiry, never
shortening it) with your key, as \`tiup mirror modify\` does. Only the flags you give change
anything: --hide/--no-hide, --standalone/--no-standalone and --yank/--no-yank set the
component's index flags; TiUP's spellings --hide=false, --yank=true etc. work too.

With COMPONENT:VERSION only --yank (and --desc) apply: that version is marked yanked on every
platform. Nightly versions cannot be yanked. Nothing is deleted: yanked versions stay in the
mirror but clients no longer choose them.

Examples:
  ferry mirror modify hello --desc "Prints hello" --hide
  ferry mirror modify hello:v0.0.1 --yank`,
  flags: {
    key: KEY_FLAG,
    desc: { type: "string", valueName: "TEXT", description: "New description" },
    standalone: { type: "boolean", description: "Mark the component standalone" },
    "no-standalone": { type: "boolean", description: "Mark the component not standalone" },
    hide: { type: "boolean", description: "Hide the component from listings" },
    "no-hide": { type: "boolean", description: "Show the component in listings again" },
    yank: { type: "boolean", description: "Yank the component, or VERSION with COMPONENT:VERSION" },
    "no-yank": { type: "boolean", description: "Un-yank the component" },
    ...MIRROR_FLAGS,
  },
  positionals: { min: 1, max: 1, names: "COMPONENT[:VERSION]" },
  async run({ args, flags, out, env }) {
    const spec = args[0]!;
    const colon = spec.indexOf(":");
    const component = colon === -1 ? spec : spec.slice(0, colon);
    const version = colon === -1 ? undefined : spec.slice(colon + 1);
    if (version === "") {
      throw new UsageError(`Cannot modify "${spec}": the version after ":" is empty`);
    }
    const hidden = tristate(flags, "hide");
    const standalone = tristate(flags, "standalone");
    const yanked = tristate(flags, "yank");
    const description = stringFlag(flags, "desc");
    if (
      hidden === undefined && standalone === undefined && yanked === undefined &&
      description === undefined
    ) {
      throw new UsageError(
        `"ferry mirror modify ${spec}" needs something to change: --desc, --hide, --standalone or --yank`,
      );
    }
    const dir = await resolveMirrorDir(stringFlag(flags, "mirror"), env, "modify");
    const key = await loadOwnerKey(flags, env);
    const { storage, keys } = openMirror(dir, flags, env);
    const result = await modifyComponent(storage, {
      component,
      ...(version !== undefined ? { version } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(hidden !== undefined ? { hidden } : {}),
      ...(standalone !== undefined ? { standalone } : {}),
      ...(yanked !== undefined ? { yanked } : {}),
    }, { key, keys, ...lockReporting(out) });
    reportUpdate(out, result, `Modified ${spec} in ${dir}`);
    return 0;
  },
};

/**
 * true for --NAME (or --NAME=true), false for --NAME=false or --no-NAME, undefined when neither
 * was given.
 */
function tristate(flags: FlagValues, name: string): boolean | undefined {
  const on = flags[name];
  const off = flags[`no-${name}`];
  const values = [
    ...(typeof on === "boolean" ? [on] : []),
    ...(typeof off === "boolean" ? [!off] : []),
  ];
  if (values.length === 2 && values[0] !== values[1]) {
    throw new UsageError(`Cannot use --${name} and --no-${name} together`);
  }
  return values[0];
}
