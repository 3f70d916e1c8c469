/**
 * The import-direction check the test command runs (issue 10): imports only go down.
 *
 *   deno run -A scripts/check_imports.ts        # prints each violation, exits 1 if any
 *
 * The layers, top to bottom: main.ts → commands/ → proxy/ → lib/. Inside lib/ each role folder
 * sits on a floor and may import only its own folder and lower floors, so "where does trust
 * live?" has one answer and no module can reach back up (a writer into a clone, the wire format
 * into storage). lib/cli is the terminal's concern: no other lib folder uses it (lib reports
 * through neutral events); commands/, main.ts and proxy/ (which reads its config from flags) may.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";

/** lib/'s top-level files and role folders, by floor (0 is the bottom). */
export const LIB_FLOORS: Readonly<Record<string, number>> = {
  "errors.ts": 0,
  "runtime.ts": 0,
  "version.ts": 0,
  "for_each_limited.ts": 0,
  "clock.ts": 0,
  "progress_events.ts": 0,
  http: 1,
  archive: 1,
  cli: 1,
  storage: 2,
  format: 2,
  trust: 3,
  writer: 4,
  client: 4,
  mirror: 5,
  remote_publish: 5,
  image: 6,
  server: 7,
};

/** One import that goes the wrong way. */
export interface ImportViolation {
  /** The importing file, relative to the root. */
  readonly file: string;
  /** The imported file, relative to the root. */
  readonly target: string;
  /** Why it is refused. */
  readonly reason: string;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;

/** Every `.ts` file under `dir` (relative to `root`), tests excluded by the caller's choice of dirs. */
function listTs(root: string, dir: string): string[] {
  const found: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(nodePath.join(root, rel))) {
      const child = nodePath.posix.join(rel, name);
      if (statSync(nodePath.join(root, child)).isDirectory()) walk(child);
      else if (name.endsWith(".ts")) found.push(child);
    }
  };
  walk(dir);
  return found;
}

/** The layer a root-relative file belongs to: "entry" (main.ts, mod.ts), "commands", "proxy", or
 * "lib/<unit>" (a role folder or a top-level file of lib/). */
function layerOf(file: string): string {
  const [top, unit] = file.split("/");
  if (unit === undefined) return "entry";
  return top === "lib" ? `lib/${unit}` : top ?? "entry";
}

const LAYER_RANK: Readonly<Record<string, number>> = { entry: 3, commands: 2, proxy: 1 };

/** Why `file` may not import `target` (both relative to the root), or undefined when it may. */
export function judgeImport(file: string, target: string): string | undefined {
  const from = layerOf(file);
  const to = layerOf(target);
  if (from === to) return undefined;
  if (to === "entry") return `nothing imports ${target}`;
  if ((LAYER_RANK[from] ?? 0) < (LAYER_RANK[to] ?? 0)) return `${from} must not import ${to}/`;
  if (to === "lib/cli" && from.startsWith("lib/")) {
    return "no lib folder but lib/cli uses lib/cli (lib reports through neutral events)";
  }
  if (!from.startsWith("lib/") || !to.startsWith("lib/")) return undefined;
  const fromFloor = LIB_FLOORS[from.slice(4)];
  const toFloor = LIB_FLOORS[to.slice(4)];
  if (fromFloor === undefined) return `${from} has no floor in scripts/check_imports.ts`;
  if (toFloor === undefined) return `${to} has no floor in scripts/check_imports.ts`;
  if (toFloor >= fromFloor) {
    return `${from} (floor ${fromFloor}) must not import ${to} (floor ${toFloor})`;
  }
  return undefined;
}

/** Every wrong-way import in main.ts, mod.ts, commands/, proxy/ and lib/ under `root`. */
export function findImportViolations(root: string): ImportViolation[] {
  const files = ["main.ts", "mod.ts"].filter((f) => {
    try {
      return statSync(nodePath.join(root, f)).isFile();
    } catch {
      return false;
    }
  });
  for (const dir of ["commands", "proxy", "lib"]) files.push(...listTs(root, dir));
  const violations: ImportViolation[] = [];
  for (const file of files) {
    const text = readFileSync(nodePath.join(root, file), "utf8");
    for (const match of text.matchAll(SPECIFIER)) {
      const target = nodePath.posix.normalize(
        nodePath.posix.join(nodePath.posix.dirname(file), match[1] ?? ""),
      );
      const reason = judgeImport(file, target);
      if (reason) violations.push({ file, target, reason });
    }
  }
  return violations;
}

if (import.meta.main) {
  const root = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
  const violations = findImportViolations(root);
  for (const v of violations) process.stdout.write(`${v.file} → ${v.target}: ${v.reason}\n`);
  process.stdout.write(
    violations.length === 0
      ? "imports: every import goes down\n"
      : `imports: ${violations.length} import(s) go the wrong way\n`,
  );
  process.exit(violations.length === 0 ? 0 : 1);
}
