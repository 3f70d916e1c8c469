import { defineCommand } from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";
import { modifyComponent } from "../../lib/writer/modify_component.ts";
import { modifyOnHttpMirror } from "../../lib/remote_publish/modify_on_http_mirror.ts";
import { isRemoteLocation } from "../../lib/storage/open_storage.ts";
import {
  checkRemoteWriteFlags,
  KEY_FLAG,
  loadOwnerKey,
  lockReporting,
  MIRROR_FLAGS,
  mirrorLocation,
  openMirror,
  REMOTE_WRITE_FLAGS,
  remoteWriteOptions,
  reportUpdate,
  resolveMirrorDir,
} from "./_writer_context.ts";

export const mirrorModifyCommand = defineCommand({
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
    standalone: { type: "boolean", tristate: true, description: "Mark the component standalone" },
    "no-standalone": {
      type: "boolean",
      tristate: true,
      description: "Mark the component not standalone",
    },
    hide: { type: "boolean", tristate: true, description: "Hide the component from listings" },
    "no-hide": {
      type: "boolean",
      tristate: true,
      description: "Show the component in listings again",
    },
    yank: {
      type: "boolean",
      tristate: true,
      description: "Yank the component, or VERSION with COMPONENT:VERSION",
    },
    "no-yank": { type: "boolean", tristate: true, description: "Un-yank the component" },
    ...MIRROR_FLAGS,
    ...REMOTE_WRITE_FLAGS,
  },
  positionals: { min: 1, max: 1, names: "COMPONENT[:VERSION]" },
  async run({ args, options, out, env }) {
    const spec = args[0]!;
    const colon = spec.indexOf(":");
    const component = colon === -1 ? spec : spec.slice(0, colon);
    const version = colon === -1 ? undefined : spec.slice(colon + 1);
    if (version === "") {
      throw new UsageError(`Cannot modify "${spec}": the version after ":" is empty`);
    }
    const hidden = tristate("hide", options.hide, options["no-hide"]);
    const standalone = tristate("standalone", options.standalone, options["no-standalone"]);
    const yanked = tristate("yank", options.yank, options["no-yank"]);
    const description = options.desc;
    if (
      hidden === undefined && standalone === undefined && yanked === undefined &&
      description === undefined
    ) {
      throw new UsageError(
        `"ferry mirror modify ${spec}" needs something to change: --desc, --hide, --standalone or --yank`,
      );
    }
    const request = {
      component,
      ...(version !== undefined ? { version } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(hidden !== undefined ? { hidden } : {}),
      ...(standalone !== undefined ? { standalone } : {}),
      ...(yanked !== undefined ? { yanked } : {}),
    };
    const location = await mirrorLocation(options.mirror, env, "modify");
    checkRemoteWriteFlags(location, options);
    if (isRemoteLocation(location)) {
      const key = await loadOwnerKey(options.key, env);
      const connection = await remoteWriteOptions(options, env);
      const remote = await modifyOnHttpMirror(location, request, {
        key,
        ...connection,
      });
      out.print(`Modified ${spec} in ${location} (manifest v${remote.componentVersion})`);
      return 0;
    }
    const dir = await resolveMirrorDir(location, env, "modify");
    const key = await loadOwnerKey(options.key, env);
    const { storage, keys } = openMirror(dir, options["key-dir"], env);
    const result = await modifyComponent(storage, request, {
      key,
      keys,
      ...lockReporting(out, options["lock-wait"]),
    });
    reportUpdate(out, result, `Modified ${spec} in ${dir}`);
    return 0;
  },
});

/**
 * true for --NAME (or --NAME=true), false for --NAME=false or --no-NAME, undefined when neither
 * was given.
 */
function tristate(
  name: string,
  on: boolean | undefined,
  off: boolean | undefined,
): boolean | undefined {
  const values = [
    ...(typeof on === "boolean" ? [on] : []),
    ...(typeof off === "boolean" ? [!off] : []),
  ];
  if (values.length === 2 && values[0] !== values[1]) {
    throw new UsageError(`Cannot use --${name} and --no-${name} together`);
  }
  return values[0];
}
