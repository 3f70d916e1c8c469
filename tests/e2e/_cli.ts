/**
 * Drives the real ferry CLI for end-to-end tests, from source or as the compiled binary:
 *
 * - `FERRY_BIN=/path/to/ferry` runs that executable (CI builds dist/ferry and runs the e2e suite
 *   against it);
 * - otherwise `<repo>/node_modules/.bin/deno run -A <repo>/main.ts`.
 *
 * Every process started here is bounded in time and stopped by its own pid.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (two levels above this file). */
export const REPO_ROOT: string = nodePath.resolve(
  nodePath.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
);

/**
 * The argv prefix that runs ferry: `[FERRY_BIN]`, or deno running main.ts from source (bun with
 * `fromSourceOn: "bun"`, for what only the binary's runtime can do, such as client certificates).
 */
export function ferryCommand(fromSourceOn: "deno" | "bun" = "deno"): string[] {
  const bin = process.env.FERRY_BIN;
  if (bin) return [nodePath.resolve(bin)];
  if (fromSourceOn === "bun") {
    return [
      nodePath.join(REPO_ROOT, "node_modules", ".bin", "bun"),
      nodePath.join(REPO_ROOT, "main.ts"),
    ];
  }
  return [
    nodePath.join(REPO_ROOT, "node_modules", ".bin", "deno"),
    "run",
    "-A",
    nodePath.join(REPO_ROOT, "main.ts"),
  ];
}

/** True when the e2e suite runs against a compiled binary rather than from source. */
export function usingBinary(): boolean {
  return Boolean(process.env.FERRY_BIN);
}

/** Options shared by {@linkcode runFerry} and {@linkcode startFerry}. */
export interface FerryProcessOptions {
  /** Added to (and overriding) the test process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** The runtime that runs ferry from source (ignored with FERRY_BIN); default deno. */
  fromSourceOn?: "deno" | "bun";
}

/** Options for {@linkcode runFerry}. */
export interface RunFerryOptions extends FerryProcessOptions {
  /** Written to stdin, which is then closed. stdin is empty otherwise. */
  input?: string | Uint8Array;
  /** Killed with SIGKILL after this long. Default 60 s. */
  timeoutMs?: number;
}

/** How a finished ferry run went. */
export interface FerryResult {
  /** The exit code; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the run was killed for taking longer than `timeoutMs`. */
  timedOut: boolean;
}

function environment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/**
 * Every ferry process still running. A test that fails (or a runner that gives up on it) may
 * never reach its stop(); these are killed when the test process exits, so that no server
 * outlives the run.
 */
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

function spawnFerry(args: string[], options: FerryProcessOptions, stdin: "pipe" | "ignore") {
  const [command, ...prefix] = ferryCommand(options.fromSourceOn);
  const child = spawn(command!, [...prefix, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: environment(options.env),
    stdio: [stdin, "pipe", "pipe"],
  });
  running.add(child);
  child.on("close", () => running.delete(child));
  child.on("error", () => running.delete(child));
  return child;
}

/** Runs `ferry ...args` to completion and returns its exit code and output. */
export function runFerry(args: string[], options: RunFerryOptions = {}): Promise<FerryResult> {
  const child = spawnFerry(args, options, "pipe");
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdin!.on("error", () => {}); // the process may exit without reading its input
  child.stdin!.end(options.input ?? "");
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/**
 * Runs `ferry ...args` with the profile `home` ($FERRY_HOME) and none of the test process's
 * TiUP or mirror variables, so the caller's own profile never leaks into a test.
 */
export function runFerryWithProfile(
  args: string[],
  home: string,
  options: RunFerryOptions = {},
): Promise<FerryResult> {
  return runFerry(args, {
    ...options,
    env: {
      FERRY_HOME: home,
      TIUP_HOME: undefined,
      FERRY_MIRROR: undefined,
      TIUP_MIRRORS: undefined,
      ...options.env,
    },
  });
}

/** Throws, with the command and both outputs, unless `result` exited with `expectCode`. */
export function assertExitCode(result: FerryResult, args: string[], expectCode: number): void {
  if (result.code === expectCode) return;
  throw new Error(
    `ferry ${
      args.join(" ")
    } exited ${result.code}, expected ${expectCode}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
  );
}

/**
 * Runs `ferry ...args` and asserts it exits with `code`, showing both streams when it does not.
 */
export async function runFerryExpecting(
  args: string[],
  code: number,
  options: RunFerryOptions = {},
): Promise<FerryResult> {
  const result = await runFerry(args, { timeoutMs: 120_000, ...options });
  assertExitCode(result, args, code);
  return result;
}

/** Options for {@linkcode startFerry}. */
export interface StartFerryOptions extends FerryProcessOptions {
  /** Resolve once stdout or stderr matches this (e.g. /Serving .* at /). */
  readyPattern?: RegExp;
  /** Give up (and kill the process) if not ready within this long. Default 60 s. */
  readyTimeoutMs?: number;
}

/** A ferry process left running (a server). Stop it with `stop()`. */
export interface RunningFerry {
  child: ChildProcess;
  pid: number;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The match of `readyPattern` in the output, when one was given. */
  ready?: RegExpMatchArray;
  /** SIGTERM, then SIGKILL if still running after `graceMs` (default 10 s). */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `ferry ...args` in the background and resolves when its output matches `readyPattern`
 * (immediately when none is given). Rejects, with the output so far, when the process exits or
 * the wait times out first; the process is killed in that case.
 */
export function startFerry(args: string[], options: StartFerryOptions = {}): Promise<RunningFerry> {
  const child = spawnFerry(args, options, "ignore");
  let stdout = "";
  let stderr = "";
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve) => {
      child.on("close", (code, signal) => {
        exitInfo = { code, signal };
        resolve(exitInfo);
      });
    },
  );
  // process.kill(pid) rather than child.kill(): after child.kill(), Deno's child_process reports
  // the signal as the cause of exit even when the process caught it and exited 0.
  const signal = (name: NodeJS.Signals) => {
    if (exitInfo || child.pid === undefined) return;
    try {
      process.kill(child.pid, name);
    } catch {
      // already gone
    }
  };
  const stop = async (graceMs = 10_000) => {
    if (exitInfo) return exitInfo;
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const handle = (): RunningFerry => ({
      child,
      pid: child.pid ?? -1,
      stdout: () => stdout,
      stderr: () => stderr,
      exited,
      stop,
    });
    const check = () => {
      if (settled || !options.readyPattern) return;
      const match = (stdout + "\n" + stderr).match(options.readyPattern);
      if (match) {
        settled = true;
        clearTimeout(timer);
        resolve({ ...handle(), ready: match });
      }
    };
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop(1000).then(() =>
        reject(new Error(`ferry ${args.join(" ")}: ${why}\nstdout: ${stdout}\nstderr: ${stderr}`))
      );
    };
    const timer = setTimeout(
      () => fail("not ready in time"),
      options.readyTimeoutMs ?? 60_000,
    );
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      check();
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      check();
    });
    child.on("error", (error) => fail(String(error)));
    void exited.then((info) => fail(`exited (${info.code ?? info.signal}) before it was ready`));
    if (!options.readyPattern) {
      settled = true;
      clearTimeout(timer);
      resolve(handle());
    }
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A fresh directory under the system temp dir, and a function that removes it. */
export async function makeTempDir(
  label = "ferry-e2e",
): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(nodePath.join(tmpdir(), `${label}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
