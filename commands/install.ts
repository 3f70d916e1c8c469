import { defineCommand } from "../lib/cli/command.ts";
import { installComponent } from "../lib/client/install_component.ts";
import { parseComponentSpec } from "../lib/client/parse_component_spec.ts";
import { openClientMirror } from "./_client_context.ts";

/** `ferry install comp[:version]...`: verified download and safe unpack of components. */
export const installCommand = defineCommand({
  usage: "<COMPONENT[:VERSION]>...",
  description: `Installs each component into $FERRY_HOME/components/<name>/<version>. Without a
version: the latest stable one (highest semver, not nightly, not yanked); "nightly" picks the
nightly build. The build for this platform is used, else the any/any one.
Every tarball is checked against its signed manifest (length, sha256, sha512) and unpacked
safely; on any failure nothing is left installed. Yanked versions are refused.

Examples:
  ferry install hello
  ferry install hello:v1.0.0 tidb:nightly`,
  flags: {},
  positionals: { min: 1, names: "<COMPONENT[:VERSION]>..." },
  async run({ args, env, out, signal }) {
    const specs = args.map(parseComponentSpec);
    const { home, updater } = await openClientMirror({ env, out });
    for (const spec of specs) {
      const result = await installComponent(updater, {
        home,
        name: spec.name,
        ...(spec.version !== undefined ? { version: spec.version } : {}),
        signal,
        onProgress: (event) => {
          if (event.kind === "download") {
            out.info(
              `Downloading ${event.url.replace(/^\//, "")} (${event.length} bytes)`,
            );
          }
        },
      });
      out.print(
        result.installed
          ? `Installed ${result.name} ${result.version} (${result.platform}) in ${result.dir}`
          : `${result.name} ${result.version} is already installed in ${result.dir}`,
      );
    }
  },
});
