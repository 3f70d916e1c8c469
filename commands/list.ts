import { defineCommand } from "../lib/cli/command.ts";
import type { Output } from "../lib/cli/output.ts";
import { ferryHome } from "../lib/client/home_dir.ts";
import { hostPlatform } from "../lib/client/host_platform.ts";
import { listComponentVersions } from "../lib/client/list_component_versions.ts";
import { listInstalled } from "../lib/client/list_installed.ts";
import { listMirrorComponents } from "../lib/client/list_mirror_components.ts";
import { parseComponentSpec } from "../lib/client/parse_component_spec.ts";
import { UnknownComponentError } from "../lib/client/unknown_component_error.ts";
import { UsageError } from "../lib/errors.ts";
import { openClientMirror } from "./_client_context.ts";

/** `ferry list [component]`: what the mirror has, and what is installed. */
export const listCommand = defineCommand({
  usage: "[COMPONENT] [--installed] [--all] [--json]",
  description: `Without a component: the mirror's components with owner, installed versions and
description (hidden ones only with --all; yanked ones never).
With a component: its versions for this platform (or any/any), oldest first, with installed
marks, release time and platforms; --all adds yanked versions and other platforms' versions.
--installed lists only what is installed (without a component it does not contact the mirror).

Examples:
  ferry list
  ferry list hello --all
  ferry list --installed --json`,
  flags: {
    installed: { type: "boolean", description: "Only installed components or versions" },
    all: { type: "boolean", description: "Include hidden components and yanked versions" },
    json: { type: "boolean", description: "Print JSON instead of a table" },
  },
  positionals: { max: 1, names: "[COMPONENT]" },
  async run({ args, options, env, out }) {
    const json = options.json;
    const all = options.all;
    const onlyInstalled = options.installed;
    const home = ferryHome(env);
    const component = args[0];
    if (component === undefined && onlyInstalled) {
      const installed = await listInstalled(home);
      if (json) return out.json(installed);
      if (installed.length === 0) return out.info(`Nothing is installed in "${home}"`);
      table(out, ["Name", "Installed"], installed.map((c) => [c.name, c.versions.join(",")]));
      return;
    }
    const { updater } = await openClientMirror({ env, out });
    if (component === undefined) {
      const rows = await listMirrorComponents(updater, {
        all,
        installed: await listInstalled(home),
      });
      if (json) return out.json(rows);
      if (rows.length === 0) return out.info("The mirror has no components yet");
      table(
        out,
        ["Name", "Owner", "Installed", "Description"],
        rows.map((r) => [
          r.hidden ? `${r.name} (hidden)` : r.name,
          r.owner,
          r.installed.join(","),
          r.description,
        ]),
      );
      return;
    }
    const spec = parseComponentSpec(component);
    if (spec.version !== undefined) {
      throw new UsageError(`"ferry list" takes a component name, not "${component}"`);
    }
    const listed = updater.trusted.index!.signed.components;
    if (!Object.hasOwn(listed, spec.name) || (listed[spec.name]!.yanked && !all)) {
      throw new UnknownComponentError(
        spec.name,
        `The mirror has no component "${spec.name}": see "ferry list"`,
      );
    }
    const manifest = await updater.component(spec.name);
    const installed = (await listInstalled(home)).find((c) => c.name === spec.name)?.versions ??
      [];
    let rows = listComponentVersions(manifest.signed, { platform: hostPlatform(), all, installed });
    if (onlyInstalled) rows = rows.filter((r) => r.installed);
    if (json) {
      return out.json({
        name: spec.name,
        description: manifest.signed.description,
        versions: rows,
      });
    }
    if (rows.length === 0) {
      return out.info(
        onlyInstalled
          ? `No version of "${spec.name}" is installed`
          : `"${spec.name}" has no version for this platform (try --all)`,
      );
    }
    table(
      out,
      ["Version", "Installed", "Release", "Platforms"],
      rows.map((r) => [
        r.version + (r.nightly ? " (nightly)" : "") + (r.yanked ? " (yanked)" : ""),
        r.installed ? "YES" : "",
        r.released,
        r.platforms.join(","),
      ]),
    );
  },
});

/** Prints an aligned table with a header and a dashed rule, as `tiup list` does. */
function table(out: Output, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  ")
      .trimEnd();
  out.print(line(header));
  out.print(line(header.map((h) => "-".repeat(h.length))));
  for (const row of rows) out.print(line(row));
}
