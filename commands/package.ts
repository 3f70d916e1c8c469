import { stat } from "node:fs/promises";
import * as nodePath from "node:path";
import { packTarball } from "../lib/archive/pack_tarball.ts";
import { defineCommand } from "../lib/cli/command.ts";
import { checkComponentName } from "../lib/client/check_component_name.ts";
import { checkComponentVersion } from "../lib/client/check_component_version.ts";
import { hostPlatform } from "../lib/client/host_platform.ts";
import { NotFoundError, PathError, printable, UsageError } from "../lib/errors.ts";
import { LocalStorage } from "../lib/storage/local_storage.ts";
import { PLATFORM_FLAGS, singlePlatformFlag } from "./_platform_flags.ts";

/** The os/arch pairs `mirror publish` accepts (TIUP-FORMAT.md §0, `validatePlatform`). */
const PLATFORMS = ["linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "any/any"];
/** Where TiUP's `package` writes, relative to the current directory. */
const OUTPUT_DIR = "package";
const USAGE = "<TARGET...> --name NAME --release VERSION [--os OS] [--arch ARCH] [-C DIR]";

export const packageCommand = defineCommand({
  usage: USAGE,
  description:
    `Runs the equivalent of  tar -czf package/NAME-VERSION-OS-ARCH.tar.gz [-C DIR] TARGET...
in the current directory, as \`tiup package\` does. Targets are paths relative to DIR (default:
the current directory); directories are packed with everything in them. Publishing is a
separate step: ferry mirror publish NAME VERSION package/NAME-VERSION-OS-ARCH.tar.gz ENTRY

--entry, --desc, --standalone and --hide are accepted for TiUP compatibility and ignored: they
belong to \`ferry mirror publish\`.

Examples:
  gcc hello.c -o hello
  ferry package hello --entry hello --name hello --release v0.0.1
  ferry package bin conf -C build/out --name mytool --release v1.2.0 --os linux --arch arm64`,
  flags: {
    name: { type: "string", valueName: "NAME", description: "Component name (required)" },
    release: {
      type: "string",
      valueName: "VERSION",
      description: "Component version, e.g. v0.0.1 (required)",
    },
    ...PLATFORM_FLAGS,
    directory: {
      type: "string",
      short: "C",
      valueName: "DIR",
      description: "Change to DIR before packing the targets, like tar -C",
    },
    entry: { type: "string", valueName: "FILE", description: "Deprecated and ignored" },
    desc: { type: "string", valueName: "TEXT", description: "Deprecated and ignored" },
    standalone: { type: "boolean", description: "Deprecated and ignored" },
    hide: { type: "boolean", description: "Deprecated and ignored" },
  },
  positionals: { min: 1, names: "TARGET..." },
  async run({ args, options, out }) {
    const name = options.name;
    const release = options.release;
    const missing = [name === undefined ? "--name" : "", release === undefined ? "--release" : ""]
      .filter((flag) => flag !== "");
    if (missing.length > 0) {
      throw new UsageError(
        `"ferry package" needs ${missing.join(" and ")}: usage: ferry package ${USAGE}`,
      );
    }
    checkComponentName(name as string, "--name");
    checkComponentVersion(release as string, "--release");
    const platform = choosePlatform(
      singlePlatformFlag("os", options.os),
      singlePlatformFlag("arch", options.arch),
    );

    const given = {
      entry: options.entry !== undefined,
      desc: options.desc !== undefined,
      standalone: options.standalone,
      hide: options.hide,
    };
    const deprecated = Object.keys(given).filter((flag) => given[flag as keyof typeof given]);
    if (deprecated.length > 0) {
      const list = deprecated.map((flag) => `--${flag}`).join(", ");
      const verb = deprecated.length === 1 ? "is ignored: it belongs" : "are ignored: they belong";
      out.info(`Note: ${list} ${verb} to "ferry mirror publish"`);
    }

    const directory = options.directory ?? ".";
    const info = await stat(directory).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new UsageError(`Cannot change to -C "${printable(directory)}": no such directory`);
    }
    const packDir = nodePath.resolve(directory);
    const file = `${name}-${release}-${platform.os}-${platform.arch}.tar.gz`;
    const output = `${OUTPUT_DIR}/${file}`;
    const cwd = process.cwd();
    // `ferry package .` would otherwise pack its own earlier output.
    const outputInPackDir = nodePath.relative(packDir, nodePath.join(cwd, OUTPUT_DIR));
    const exclude = outputInPackDir.startsWith("..") || nodePath.isAbsolute(outputInPackDir)
      ? undefined
      : outputInPackDir.split(nodePath.sep).join("/");

    let body: ReadableStream<Uint8Array>;
    try {
      body = await packTarball(args, {
        cwd: packDir,
        ...(exclude !== undefined ? { exclude: (path: string) => path === exclude } : {}),
      });
    } catch (error) {
      throw targetError(error, directory);
    }
    const storage = new LocalStorage(cwd);
    const replaced = await storage.stat(output).then(() => true, () => false);
    const written = await storage.write(output, body);
    if (replaced) out.info(`Replaced the earlier ${output}`);
    out.print(output);
    const entry = options.entry ?? guessEntry(args);
    out.info(
      `Packed ${args.length} target(s) into ${output} (${written.size} bytes). Next, publish it:`,
    );
    out.info(`  ferry mirror publish ${name} ${release} ${output} ${entry}`);
    return 0;
  },
});

function choosePlatform(os: string | undefined, arch: string | undefined) {
  const host = os === undefined || arch === undefined ? hostPlatform() : undefined;
  const chosen = { os: os ?? host?.os ?? "", arch: arch ?? host?.arch ?? "" };
  if (!PLATFORMS.includes(`${chosen.os}/${chosen.arch}`)) {
    throw new UsageError(
      `Cannot package for "${printable(chosen.os)}/${printable(chosen.arch)}": mirrors carry ${
        PLATFORMS.join(", ")
      } (set --os and --arch)`,
    );
  }
  return chosen;
}

function targetError(error: unknown, directory: string): unknown {
  const where = directory === "." ? "the current directory" : `"${printable(directory)}"`;
  if (error instanceof NotFoundError) {
    return new UsageError(
      `Cannot package "${printable(error.path)}": no such file or directory in ${where}`,
    );
  }
  if (error instanceof PathError) {
    return new UsageError(
      `${error.message} (targets are paths inside -C DIR, e.g. -C /build/out hello)`,
    );
  }
  return error;
}

/** The entry to suggest for publish: the one target, when it is a plain name; else a placeholder. */
function guessEntry(targets: string[]): string {
  const [only] = targets;
  return targets.length === 1 && only !== undefined && !only.includes("/") ? only : "<entry>";
}
