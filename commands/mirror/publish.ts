import { defineCommand } from "../../lib/cli/command.ts";
import { hostPlatform } from "../../lib/client/host_platform.ts";
import { publishComponent } from "../../lib/writer/publish_component.ts";
import { tarballFromFile } from "../../lib/writer/tarball_from_file.ts";
import { publishToHttpMirror } from "../../lib/remote_publish/publish_to_http_mirror.ts";
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
import { PLATFORM_FLAGS, singlePlatformFlag } from "../_platform_flags.ts";

export const mirrorPublishCommand = defineCommand({
  usage:
    "<COMPONENT> <VERSION> <TARBALL> <ENTRY> [-k KEY] [--os OS] [--arch ARCH] [--desc TEXT] [--standalone] [--hide] [--mirror DIR]",
  description:
    `Adds one build of a component, as \`tiup mirror publish\` does: the tarball is copied
into the mirror as COMPONENT-VERSION-OS-ARCH.tar.gz, and a new component manifest signed with
your key (-k) is added, then the index (for a new component), snapshot and timestamp. The
tarball may have any file name (a CI artifact such as tool-linux-amd64.tar.gz is fine). ENTRY is
the path of the executable inside the tarball, and must be there: a tarball without it is
refused before anything is written. Your key must belong to an owner of the mirror ("ferry
mirror grant"); a new component belongs to that owner.

A version containing "nightly" becomes the component's nightly, and older nightlies are removed
from every platform. --standalone and --hide apply to new components only (see "ferry mirror
modify"); TiUP's --hide=false spelling works. Platforms: linux/amd64, linux/arm64,
darwin/amd64, darwin/arm64, any/any. Nothing is ever deleted or overwritten; an existing
version is refused if its bytes differ.

Examples:
  ferry package hello --name hello --release v0.0.1
  ferry mirror publish hello v0.0.1 package/hello-v0.0.1-linux-amd64.tar.gz hello
  ferry mirror publish tool v1.2.0 dist/tool_1.2.0_darwin_arm64.tar.gz bin/tool --os darwin --arch arm64 --mirror /data/mirror
  ferry mirror publish hello v0.0.2 hello.tar.gz hello --mirror http://mirror.lan:8080   # served with --publish`,
  flags: {
    key: KEY_FLAG,
    ...PLATFORM_FLAGS,
    desc: { type: "string", valueName: "TEXT", description: "Description of the component" },
    standalone: { type: "boolean", description: "The component runs on its own (new components)" },
    hide: { type: "boolean", description: "Hide it from `ferry list` (new components)" },
    ...MIRROR_FLAGS,
    ...REMOTE_WRITE_FLAGS,
  },
  positionals: { min: 4, max: 4, names: "COMPONENT VERSION TARBALL ENTRY" },
  async run({ args, options, out, env }) {
    const [component, version, tarballPath, entry] = args as [string, string, string, string];
    const os = singlePlatformFlag("os", options.os);
    const arch = singlePlatformFlag("arch", options.arch);
    const host = os === undefined || arch === undefined ? hostPlatform() : undefined;
    const platform = `${os ?? host!.os}/${arch ?? host!.arch}`;
    // The tarball is read (hashed, its entries listed) before the mirror is touched at all.
    const tarball = await tarballFromFile(tarballPath);
    const location = await mirrorLocation(options.mirror, env, "publish");
    checkRemoteWriteFlags(location, options);
    const description = options.desc;
    const pkg = {
      component,
      version,
      platform,
      entry,
      tarball,
      ...(description !== undefined ? { description } : {}),
      ...(options.standalone ? { standalone: true } : {}),
      ...(options.hide ? { hidden: true } : {}),
    };
    if (isRemoteLocation(location)) {
      const key = await loadOwnerKey(options.key, env);
      const connection = await remoteWriteOptions(options, env);
      const remote = await publishToHttpMirror(location, pkg, {
        key,
        ...connection,
      });
      for (const note of remote.notes) out.info(`Note: ${note}`);
      out.print(`Published ${component} ${version} for ${platform} to ${location}`);
      out.info(
        `The server committed ${remote.tarballPath} and manifest v${remote.componentVersion}` +
          (remote.attempts > 1 ? ` (after ${remote.attempts} attempts: others published too)` : ""),
      );
      return 0;
    }
    const dir = await resolveMirrorDir(location, env, "publish");
    const key = await loadOwnerKey(options.key, env);
    const { storage, keys } = openMirror(dir, options["key-dir"], env);
    const result = await publishComponent(storage, pkg, {
      key,
      keys,
      ...lockReporting(out, options["lock-wait"]),
    });
    for (const note of result.notes) out.info(`Note: ${note}`);
    reportUpdate(out, result, `Published ${component} ${version} for ${platform} to ${dir}`);
    return 0;
  },
});
