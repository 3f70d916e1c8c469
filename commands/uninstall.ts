import { defineCommand } from "../lib/cli/command.ts";
import { ferryHome } from "../lib/client/home_dir.ts";
import { listInstalled } from "../lib/client/list_installed.ts";
import { parseComponentSpec } from "../lib/client/parse_component_spec.ts";
import { uninstallComponent } from "../lib/client/uninstall_component.ts";
import { NotFoundError, UsageError } from "../lib/errors.ts";

/** `ferry uninstall comp:version... | comp --all | --all`. */
export const uninstallCommand = defineCommand({
  usage: "<COMPONENT:VERSION>... | <COMPONENT>... --all | --all",
  description:
    `Removes installed versions from $FERRY_HOME/components (the mirror is not contacted).

Examples:
  ferry uninstall hello:v1.0.0   # one version
  ferry uninstall hello --all    # every version of hello
  ferry uninstall --all          # every installed component`,
  flags: {
    all: { type: "boolean", description: "Every version (of the named components, or of all)" },
  },
  positionals: { names: "<COMPONENT[:VERSION]>..." },
  async run({ args, options, env, out }) {
    const home = ferryHome(env);
    const all = options.all;
    const specs = args.map(parseComponentSpec);
    if (specs.length === 0) {
      if (!all) {
        throw new UsageError(
          `"ferry uninstall" needs COMPONENT:VERSION, COMPONENT --all, or --all for everything`,
        );
      }
      const installed = await listInstalled(home);
      if (installed.length === 0) return out.info(`Nothing is installed in "${home}"`);
      specs.push(...installed.map((c) => ({ name: c.name })));
    }
    for (const spec of specs) {
      if (spec.version === undefined && !all) {
        throw new UsageError(
          `Name a version ("ferry uninstall ${spec.name}:VERSION"), or use "ferry uninstall ${spec.name} --all" to remove every version`,
        );
      }
    }
    for (const spec of specs) {
      let removed: string[];
      try {
        removed = await uninstallComponent(
          home,
          spec.name,
          spec.version !== undefined ? { version: spec.version } : {},
        );
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        throw new Error(
          `Cannot uninstall "${error.path}": it is not installed (see "ferry list --installed")`,
          {
            cause: error,
          },
        );
      }
      out.print(`Removed ${spec.name} ${removed.join(", ")}`.trimEnd());
    }
  },
});
