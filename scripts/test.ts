/**
 * ferry's one test orchestrator (run by scripts/test.sh, which `npm test` calls):
 *
 *   1. deno fmt --check    2. deno lint    3. the import-direction check    4. deno check
 *   5. deno unit    the unit tests (everything under tests/ but tests/e2e and the S3 suites) under
 *                   Deno, in three modules per core that two workers per core take in turn
 *                   (see denoShards)
 *   6. deno s3      the suites outside tests/e2e that start the real S3 server (see needsS3Server)
 *   7. deno e2e     tests/e2e under Deno, ferry run from source
 *   8. bun unit     the unit tests under Bun, in one shard per core run side by side
 *   9. bun s3, 10. bun e2e    the same under Bun
 *  11. when FERRY_BIN is set: tests/e2e under Deno against that binary
 *
 * Unit and e2e tests are separate steps so that each suite's time is printed on its own (the
 * unit suites must stay under a minute per runtime); e2e suites start real servers and run one
 * file at a time.
 *
 * Each step's output streams through; the runners' own summaries are parsed for counts, and the
 * last line is always `tests: N passed, M failed`. Exits non-zero when any test or step failed.
 *
 * Every test step runs with a private, empty TMPDIR. Afterwards that directory must be empty and
 * no process started with it may still run: a test that leaves a temp dir or a server behind
 * (also when it fails) fails its step, and the leftovers are named, stopped and removed.
 *
 * Usage: deno run -A scripts/test.ts [TEST_PATH...]     (default TEST_PATH: tests/)
 *
 * @module
 */
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import * as nodePath from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = nodePath.join(ROOT, "node_modules", ".bin");
const DENO = nodePath.join(BIN, "deno");
const BUN = nodePath.join(BIN, "bun");
/** Bun's limit for a test or hook that sets none (Bun's own default is 5 s). */
const BUN_DEFAULT_TIMEOUT_MS = 120_000;
/** No single step may run longer than this (CI must finish well inside its budget). */
const STEP_TIMEOUT_MS = Number(process.env.FERRY_TEST_STEP_TIMEOUT_MS ?? 25 * 60_000);
/** Unit shards run side by side (Deno and Bun): one per core unless FERRY_TEST_SHARDS says so. */
const SHARDS = Number(process.env.FERRY_TEST_SHARDS ?? availableParallelism());
/**
 * Deno's unit modules: three per shard, taken in turn by two workers per shard (DENO_JOBS). File
 * size is a poor guess of run time (one shard of two took 78 s, the other 30 s), so the modules
 * are a queue that idle workers draw from; and since much of the suite waits (timers, child
 * processes, loopback servers), a second worker per core fills those waits. Measured on 2 cores,
 * quiet: 2 modules / 2 workers 86 s, 6 / 2 45 s, 6 / 3 37 s, 6 / 4 33 s.
 */
const DENO_MODULES = SHARDS * 3;
const DENO_JOBS = SHARDS * 2;

interface StepResult {
  name: string;
  exitCode: number | null;
  passed: number;
  failed: number;
  /** False when the step ran no tests (fmt, lint, check). */
  counted: boolean;
  note: string;
  seconds: number;
}

/** The process groups of the commands running now, to stop them if we are stopped. */
const current = new Set<number>();

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    for (const pid of current) killGroup(pid, "SIGKILL");
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * Runs a command with its output captured, and streamed through unless `stream` is false (then
 * the caller prints it: shards running side by side would interleave their lines); bounded by
 * STEP_TIMEOUT_MS.
 */
function run(
  command: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  stream = true,
): Promise<{ code: number | null; output: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so a timeout (or our own SIGTERM) stops the whole tree: the test
      // runner and every server or ferry process it started.
      detached: true,
    });
    const pid = child.pid;
    if (pid !== undefined) current.add(pid);
    let output = "";
    const take = (sink: NodeJS.WriteStream) => (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (stream) sink.write(chunk);
    };
    child.stdout.on("data", take(process.stdout));
    child.stderr.on("data", take(process.stderr));
    const timer = setTimeout(() => {
      output += `\n[test.ts] step timed out after ${STEP_TIMEOUT_MS / 1000} s\n`;
      killGroup(child.pid, "SIGKILL");
    }, STEP_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      output += `\n[test.ts] cannot run ${command}: ${error.message}\n`;
      resolve({ code: 127, output, seconds: (Date.now() - started) / 1000 });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (pid !== undefined) current.delete(pid);
      resolve({ code, output: output.replace(ANSI, ""), seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** Deno's summary: "ok | 12 passed (3 steps) | 0 failed (1s)" or "FAILED | 1 passed | 2 failed". */
function denoCounts(output: string): { passed: number; failed: number } | undefined {
  const matches = [...output.matchAll(/^(?:ok|FAILED) \| (\d+) passed[^|\n]*\| (\d+) failed/gm)];
  const last = matches.at(-1);
  return last ? { passed: Number(last[1]), failed: Number(last[2]) } : undefined;
}

/** Bun's summary lines: " 12 pass" and " 0 fail". */
function bunCounts(output: string): { passed: number; failed: number } | undefined {
  const passed = [...output.matchAll(/^\s*(\d+) pass\s*$/gm)].at(-1);
  const failed = [...output.matchAll(/^\s*(\d+) fail\s*$/gm)].at(-1);
  if (!passed && !failed) return undefined;
  return { passed: Number(passed?.[1] ?? 0), failed: Number(failed?.[1] ?? 0) };
}

/** Processes (not this one) whose environment holds `TMPDIR=<dir>`: started by a test step. */
function processesWithTmpdir(dir: string): Array<{ pid: number; command: string }> {
  const found: Array<{ pid: number; command: string }> = [];
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return found; // no /proc (macOS): the directory check still runs
  }
  const marker = `TMPDIR=${dir}`;
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      if (!environ.includes(marker)) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      found.push({ pid: Number(pid), command });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/**
 * What a test step left behind in its private TMPDIR: surviving processes (stopped here) and
 * files (listed, then removed with the directory). Empty when the step cleaned up after itself.
 */
async function leftovers(dir: string): Promise<string[]> {
  const found: string[] = [];
  // A process stopped by the runner a moment ago may still be exiting: look twice.
  let survivors = processesWithTmpdir(dir);
  if (survivors.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    survivors = processesWithTmpdir(dir);
  }
  for (const { pid, command } of survivors) {
    found.push(`process ${pid}: ${command}`);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    // removed by a test: nothing left in it, then
  }
  for (const name of files.sort()) found.push(`file ${nodePath.join(dir, name)}`);
  rmSync(dir, { recursive: true, force: true });
  return found;
}

/** A command for the log: a long list of test files is only counted. */
function describeCommand({ command, args }: Command): string {
  const files = args.filter((a) => a.endsWith("_test.ts"));
  const shown = files.length > 3
    ? [...args.filter((a) => !files.includes(a)), `(${files.length} test files)`]
    : args;
  return `${nodePath.basename(command)} ${shown.join(" ")}`;
}

/** One command of a step. */
interface Command {
  command: string;
  args: string[];
}

async function step(name: string, command: string, args: string[], options: {
  env?: Record<string, string | undefined>;
  counts?: (output: string) => { passed: number; failed: number } | undefined;
  /** More commands run side by side with the first (shards); their counts are summed. */
  shards?: Command[];
} = {}): Promise<StepResult> {
  const commands = [{ command, args }, ...(options.shards ?? [])];
  for (const c of commands) {
    out(`\n=== ${name}: ${describeCommand(c)}`);
  }
  if (!options.counts) {
    const { code, seconds } = await run(command, args, options.env);
    return { name, exitCode: code, passed: 0, failed: 0, counted: false, note: "", seconds };
  }
  // A private TMPDIR, so that what this step leaves behind can be told from other runs'.
  const tmp = mkdtempSync(nodePath.join(tmpdir(), "ferry-test-run-"));
  const env = { ...options.env, TMPDIR: tmp, TMP: tmp, TEMP: tmp };
  const stream = commands.length === 1;
  const runs = await Promise.all(commands.map((c) => run(c.command, c.args, env, stream)));
  if (!stream) {
    runs.forEach((r, i) => {
      out(`\n=== ${name}, shard ${i + 1} of ${runs.length}:`);
      process.stdout.write(r.output);
    });
  }
  const left = await leftovers(tmp);
  if (left.length > 0) {
    out(`\n[test.ts] ${name} left ${left.length} thing(s) behind (stopped and removed now):`);
    for (const line of left) out(`  ${line}`);
  }
  const result = runs
    .map(({ code, output, seconds }) => counted(name, code, output, seconds, options.counts!))
    .reduce((a, b) => ({
      ...a,
      exitCode: a.exitCode !== 0 ? a.exitCode : b.exitCode,
      passed: a.passed + b.passed,
      failed: a.failed + b.failed,
      note: [a.note, b.note].filter((n) => n !== "").join("; "),
      seconds: Math.max(a.seconds, b.seconds),
    }));
  if (left.length === 0) return result;
  return {
    ...result,
    exitCode: result.exitCode === 0 ? 1 : result.exitCode,
    note: [result.note, `left ${left.length} file(s) or process(es) behind`]
      .filter((n) => n !== "").join("; "),
  };
}

/** A test step's result from the runner's exit code and its summary in `output`. */
function counted(
  name: string,
  code: number | null,
  output: string,
  seconds: number,
  parse: (output: string) => { passed: number; failed: number } | undefined,
): StepResult {
  const counts = parse(output);
  if (!counts) {
    return {
      name,
      exitCode: code === 0 ? 1 : code,
      passed: 0,
      failed: 0,
      counted: true,
      note: "no test summary found",
      seconds,
    };
  }
  let note = "";
  let exitCode = code;
  if (counts.passed + counts.failed === 0) {
    // A runner that silently ran nothing (e.g. node:test files not picked up) is a failure.
    note = "ran no tests";
    exitCode = exitCode === 0 ? 1 : exitCode;
  }
  return { name, exitCode, ...counts, counted: true, note, seconds };
}

/** The test files a path names: itself, or every `*_test.ts` below it, sorted. */
function testFiles(path: string): string[] {
  const full = nodePath.resolve(ROOT, path);
  if (!statSync(full).isDirectory()) return [nodePath.relative(ROOT, full)];
  return readdirSync(full, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith("_test.ts"))
    .map((name) => nodePath.relative(ROOT, nodePath.join(full, name)))
    .sort();
}

function isE2e(file: string): boolean {
  return /(^|\/)tests\/e2e\//.test(file);
}

/**
 * Whether a test file outside tests/e2e starts the real S3 server (it imports the S3 rig): such
 * suites (the storage conformance suite on Ceph RGW, the proxy's and the writer's suites over a
 * bucket) spend their time in the server, so they run as a step of their own and the unit
 * steps time only the tests that run in-process.
 */
function needsS3Server(file: string): boolean {
  return /from "[^"]*_s3_rig\.ts"/.test(readFileSync(nodePath.join(ROOT, file), "utf8"));
}

/**
 * `files` in `count` shards of about equal size (file size stands in for run time), each in
 * path order. Bun runs a process's files one after another, so shards side by side use the cores
 * that the suites' waits (servers starting, timers) leave idle.
 */
function shard(files: string[], count: number): string[][] {
  const shards = Array.from({ length: Math.max(1, Math.min(count, files.length)) }, () => ({
    bytes: 0,
    files: [] as string[],
  }));
  const bySize = files.map((file) => ({ file, bytes: statSync(nodePath.join(ROOT, file)).size }))
    .sort((a, b) => b.bytes - a.bytes);
  for (const { file, bytes } of bySize) {
    const smallest = shards.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    smallest.files.push(file);
    smallest.bytes += bytes;
  }
  return shards.map((s) => s.files.sort());
}

/**
 * Deno starts a fresh isolate for every test file, which costs about half a second of CPU even
 * for an empty file: over the unit suite's ~150 files that was more than half of its time. So
 * each Deno shard is one generated module that imports its share of the files, run in one
 * isolate, as Bun runs a process's files (the suites already share module state under Bun).
 * The modules live in a temporary directory of their own, removed by `remove()`; failures still
 * name the test and, in their stack, the real file.
 */
function denoShards(files: string[]): { files: string[]; remove(): void } {
  const dir = mkdtempSync(nodePath.join(tmpdir(), "ferry-deno-shards-"));
  const modules = shard(files, DENO_MODULES).map((group, i) => {
    const module = nodePath.join(dir, `shard_${i + 1}_test.ts`);
    const imports = group.map((file) =>
      `import ${JSON.stringify(pathToFileURL(nodePath.join(ROOT, file)).href)};`
    );
    writeFileSync(
      module,
      `// ${group.length} unit test files, run in one isolate.\n${imports.join("\n")}\n`,
    );
    return module;
  });
  return { files: modules, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A `bun test` of `files`. Bun applies its default 5 s limit to before()/after() hooks and
 * ignores the timeout option node:test hooks take, so the e2e suites' set-up (keys, servers)
 * would be cut off on a busy machine. --timeout raises that default; tests with their own limit
 * keep it.
 */
function bunTest(files: string[]): Command {
  return {
    command: BUN,
    args: ["test", `--timeout=${BUN_DEFAULT_TIMEOUT_MS}`, ...files.map((f) => `./${f}`)],
  };
}

async function main(): Promise<number> {
  const testPaths = process.argv.slice(2);
  const targets = testPaths.length > 0 ? testPaths : ["tests/"];
  const checkTargets = ["main.ts", "mod.ts", "lib", "commands", "proxy", "tests", "scripts"]
    .filter((path) => existsSync(nodePath.join(ROOT, path)));
  const results: StepResult[] = [];

  results.push(await step("fmt", DENO, ["fmt", "--check"]));
  results.push(await step("lint", DENO, ["lint"]));
  results.push(await step("imports", DENO, ["run", "-A", "scripts/check_imports.ts"]));
  results.push(await step("check", DENO, ["check", ...checkTargets]));
  const files = targets.flatMap(testFiles);
  const unit = files.filter((f) => !isE2e(f) && !needsS3Server(f));
  const s3 = files.filter((f) => !isE2e(f) && needsS3Server(f));
  const e2e = files.filter(isE2e);
  const fromSource = { FERRY_BIN: undefined };
  if (unit.length > 0) {
    const shards = denoShards(unit);
    try {
      results.push(
        await step("deno unit", DENO, ["test", "-A", "--no-check", "--parallel", ...shards.files], {
          counts: denoCounts,
          env: { ...fromSource, DENO_JOBS: String(DENO_JOBS) },
        }),
      );
    } finally {
      shards.remove();
    }
  }
  if (s3.length > 0) {
    results.push(
      await step("deno s3", DENO, ["test", "-A", "--no-check", ...s3], {
        counts: denoCounts,
        env: fromSource,
      }),
    );
  }
  if (e2e.length > 0) {
    results.push(
      await step("deno e2e", DENO, ["test", "-A", "--no-check", ...e2e], {
        counts: denoCounts,
        env: fromSource,
      }),
    );
  }
  if (unit.length > 0) {
    const [first, ...rest] = shard(unit, SHARDS).map(bunTest);
    results.push(
      await step("bun unit", first!.command, first!.args, {
        counts: bunCounts,
        env: fromSource,
        shards: rest,
      }),
    );
  }
  if (s3.length > 0) {
    const { command, args } = bunTest(s3);
    results.push(await step("bun s3", command, args, { counts: bunCounts, env: fromSource }));
  }
  if (e2e.length > 0) {
    const { command, args } = bunTest(e2e);
    results.push(await step("bun e2e", command, args, { counts: bunCounts, env: fromSource }));
  }
  const ferryBin = process.env.FERRY_BIN;
  if (ferryBin) {
    const bin = nodePath.resolve(ferryBin);
    if (!existsSync(bin)) {
      out(`\n=== e2e (binary): FERRY_BIN="${ferryBin}" does not exist`);
      results.push({
        name: "e2e (binary)",
        exitCode: 1,
        passed: 0,
        failed: 0,
        counted: true,
        note: "binary missing",
        seconds: 0,
      });
    } else if (e2e.length > 0) {
      results.push(
        await step("e2e (binary)", DENO, ["test", "-A", "--no-check", ...e2e], {
          counts: denoCounts,
          env: { FERRY_BIN: bin },
        }),
      );
    }
  }

  out("\n=== summary");
  for (const r of results) {
    const status = r.exitCode === 0 ? "ok" : `FAILED (exit ${r.exitCode})`;
    const counts = r.counted ? `  ${r.passed} passed, ${r.failed} failed` : "";
    const note = r.note ? `  (${r.note})` : "";
    out(`${r.name.padEnd(14)} ${status}${counts}${note}  ${r.seconds.toFixed(1)} s`);
  }
  const passed = results.reduce((n, r) => n + r.passed, 0);
  // A step that failed without failing tests (fmt, lint, type-check, a crashed runner) counts as
  // one failure, so the last line never says "0 failed" for a run that failed.
  const failed = results.reduce(
    (n, r) => n + (r.exitCode !== 0 && r.failed === 0 ? 1 : r.failed),
    0,
  );
  const stepFailed = results.some((r) => r.exitCode !== 0);
  out(`tests: ${passed} passed, ${failed} failed`);
  return failed > 0 || stepFailed ? 1 : 0;
}

process.exit(await main());
