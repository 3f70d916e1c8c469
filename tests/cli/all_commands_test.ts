import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as nodePath from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ALL_COMMANDS } from "../../commands/all_commands.ts";

const ROOT = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "../..");

/** The packages a command may need but `ferry --version`/`--help` must not load (issue 11). */
const HEAVY_PACKAGES = ["hono", "tar", "yaml", "bcryptjs", "cli-progress", "semver"];

/**
 * Every file and package reached from `entry` through static imports (dynamic `import()` and
 * `import type` are not followed: they load nothing at startup).
 */
function staticImports(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, "utf8");
    const statements = source.matchAll(
      /^\s*(?:import|export)\s+(type\s+)?([^;]*?)\s*from\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gms,
    );
    for (const [, typeOnly, clause = "", from, bare] of statements) {
      const specifier = from ?? bare!;
      if (typeOnly || isTypeOnlyClause(clause)) continue;
      if (specifier.startsWith(".")) visit(nodePath.resolve(nodePath.dirname(file), specifier));
      else if (!specifier.startsWith("node:")) packages.add(packageName(specifier));
    }
  };
  visit(nodePath.join(ROOT, entry));
  return { files, packages };
}

function isTypeOnlyClause(clause: string): boolean {
  const names = /^\{([^}]*)\}$/s.exec(clause.trim())?.[1];
  if (names === undefined) return false;
  const items = names.split(",").map((n) => n.trim()).filter((n) => n !== "");
  return items.length > 0 && items.every((n) => n.startsWith("type "));
}

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

test("main.ts statically imports no heavy package, so --version and --help start fast", () => {
  const { files, packages } = staticImports("main.ts");
  const heavy = HEAVY_PACKAGES.filter((name) => packages.has(name));
  assert.deepEqual(heavy, [], `reached from main.ts: ${[...files].join(", ")}`);
  // The table and the dispatcher only: a command module imported up front would load its
  // dependencies on every start.
  const commandFiles = [...files].map((f) => nodePath.relative(ROOT, f))
    .filter((f) => f.startsWith("commands/") && f !== "commands/all_commands.ts");
  assert.deepEqual(commandFiles, []);
});

test("ALL_COMMANDS has one entry per name, each loading a command with a run()", async () => {
  const names = ALL_COMMANDS.map((entry) => entry.name);
  assert.equal(new Set(names).size, names.length, `duplicate names in ${names.join(", ")}`);
  for (const entry of ALL_COMMANDS) {
    const command = await entry.load();
    assert.equal(typeof command.run, "function", entry.name);
    assert.equal(typeof command.usage, "string", entry.name);
    assert.equal(typeof command.flags, "object", entry.name);
  }
});

test("ALL_COMMANDS imports each command by a plain string, so the compiled binary bundles it", () => {
  const source = readFileSync(nodePath.join(ROOT, "commands/all_commands.ts"), "utf8");
  const loads = [...source.matchAll(/\bimport\(([^)]+)\)/g)].map(([, argument]) => argument!);
  assert.equal(loads.length, ALL_COMMANDS.length);
  for (const argument of loads) assert.match(argument, /^"\.\/[a-z_/]+\.ts"$/);
  assert.equal(new Set(loads).size, loads.length, "two entries load the same file");
});
