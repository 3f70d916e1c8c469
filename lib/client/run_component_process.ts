import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { constants as osConstants } from "node:os";
import * as nodePath from "node:path";
import { NotFoundError, printable } from "../errors.ts";
import { checkComponentName } from "./check_component_name.ts";

/** One of the child's standard streams: shared with ferry, discarded, or an open file descriptor. */
export type StdioChoice = "inherit" | "ignore" | number;

/** Signals forwarded to the component while it runs. */
export const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

let running = 0;

/**
 * How many component processes {@linkcode runComponentProcess} is waiting for right now.
 * main.ts reads it: while a component runs, a repeated SIGINT/SIGTERM must not make ferry exit
 * (that would orphan the child); the signal is forwarded and ferry exits with the child's code.
 */
export function runningComponentCount(): number {
  return running;
}

/** Options for {@linkcode runComponentProcess}. */
export interface RunComponentProcessOptions {
  /** The profile directory ($FERRY_HOME). */
  home: string;
  /** The component's name: its persistent data lives in `<home>/storage/<name>`. */
  component: string;
  /** The installed version directory, `<home>/components/<name>/<version>`. */
  installDir: string;
  /** Arguments for the entry binary. */
  args?: string[];
  /** The environment to start from (default: process.env). ferry's variables are added on top. */
  env?: Record<string, string | undefined>;
  /** Working directory (default: the current one, as TiUP does). */
  cwd?: string;
  /**
   * The instance tag: its data directory is `<home>/data/<tag>` and is kept afterwards. Without
   * one a random tag is made and that directory is removed when the component exits (TiUP's
   * behaviour for untagged runs).
   */
  tag?: string;
  /** The version the user typed (`hello:v1`), passed as TIUP_USER_INPUT_VERSION. */
  requestedVersion?: string;
  /** ferry's version, passed as TIUP_VERSION. */
  clientVersion?: string;
  /** stdin, stdout, stderr (default: all inherited, so the component owns the terminal). */
  stdio?: [StdioChoice, StdioChoice, StdioChoice];
  /**
   * Forward SIGINT too. Default: only when stdin is not a terminal — Ctrl-C at a terminal
   * already reaches the component (same process group), and a second SIGINT makes many
   * programs (TiUP's playground among them) skip their graceful shutdown.
   */
  forwardSigint?: boolean;
  /** Called once the child has started, with its pid. */
  onStart?: (pid: number) => void;
}

/**
 * Runs a component's entry binary and resolves to its exit status.
 *
 * Guarantees:
 * - stdin/stdout/stderr pass straight through (inherited by default): no buffering, TTYs stay
 *   TTYs, interactive components work.
 * - SIGTERM and SIGHUP (and SIGINT, see `forwardSigint`) received by ferry while the child runs
 *   are sent on to the child; ferry keeps waiting for it. The handlers are removed afterwards.
 * - Resolves to the child's exit code, or 128 + the signal number when a signal killed it
 *   (143 for SIGTERM), as a shell reports it.
 * - The child's environment is `env` plus what TiUP components expect (TIUP-FORMAT.md §5.6,
 *   TiUP's pkg/exec): TIUP_HOME and FERRY_HOME (the profile), TIUP_COMPONENT_INSTALL_DIR (the
 *   version directory), TIUP_COMPONENT_DATA_DIR (`<home>/storage/<component>`, created),
 *   TIUP_INSTANCE_DATA_DIR (`<home>/data/<tag>`, created), TIUP_TAG, TIUP_WORK_DIR, and
 *   TIUP_USER_INPUT_VERSION / TIUP_VERSION when known.
 * - A missing entry throws NotFoundError; one that cannot be executed throws an Error saying so.
 *
 * @example
 * ```ts
 * const code = await runComponentProcess(`${dir}/hello`, {
 *   home, component: "hello", installDir: dir, args: ["--flag"],
 * });
 * process.exitCode = code;
 * ```
 */
export async function runComponentProcess(
  entry: string,
  options: RunComponentProcessOptions,
): Promise<number> {
  checkComponentName(options.component);
  const home = nodePath.resolve(options.home);
  const binary = nodePath.resolve(entry);
  const info = await fs.stat(binary).catch((error) => {
    throw new NotFoundError(binary, { cause: error });
  });
  if (!info.isFile()) throw new Error(`Cannot run "${printable(binary)}": it is not a file`);

  const temporary = options.tag === undefined;
  const tag = options.tag ?? randomTag();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(tag) || tag.includes("..")) {
    throw new RangeError(`Cannot use instance tag "${printable(tag)}"`);
  }
  const instanceDir = nodePath.join(home, "data", tag);
  const storageDir = nodePath.join(home, "storage", options.component);
  await fs.mkdir(instanceDir, { recursive: true });
  await fs.mkdir(storageDir, { recursive: true });
  const cwd = options.cwd ?? process.cwd();

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.env ?? process.env)) {
    if (value !== undefined) env[key] = value;
  }
  Object.assign(env, {
    TIUP_HOME: home,
    FERRY_HOME: home,
    TIUP_WORK_DIR: cwd,
    TIUP_COMPONENT_INSTALL_DIR: nodePath.resolve(options.installDir),
    TIUP_COMPONENT_DATA_DIR: storageDir,
    TIUP_INSTANCE_DATA_DIR: instanceDir,
    TIUP_TAG: tag,
    ...(options.requestedVersion ? { TIUP_USER_INPUT_VERSION: options.requestedVersion } : {}),
    ...(options.clientVersion ? { TIUP_VERSION: options.clientVersion } : {}),
  });

  running++;
  try {
    return await spawnAndWait(binary, env, cwd, options);
  } finally {
    running--;
    if (temporary) await fs.rm(instanceDir, { recursive: true, force: true });
  }
}

function spawnAndWait(
  binary: string,
  env: Record<string, string>,
  cwd: string,
  options: RunComponentProcessOptions,
): Promise<number> {
  const forwardSigint = options.forwardSigint ?? process.stdin.isTTY !== true;
  const signals = FORWARDED_SIGNALS.filter((s) => s !== "SIGINT" || forwardSigint);
  return new Promise<number>((resolve, reject) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(binary, options.args ?? [], {
        cwd,
        env,
        stdio: options.stdio ?? ["inherit", "inherit", "inherit"],
      });
    } catch (error) {
      // Some runtimes throw from spawn() instead of emitting "error".
      reject(spawnError(binary, error as Error & { code?: string }));
      return;
    }
    let exited = false;
    const handlers = new Map<string, () => void>();
    // Ctrl-C at a terminal also reaches ferry; without a listener the runtime would kill ferry
    // and orphan the child. So SIGINT always gets a handler, even when not forwarded.
    for (const signal of [...new Set([...signals, "SIGINT" as const])]) {
      const forward = signals.includes(signal);
      const handler = () => {
        // process.kill rather than child.kill: Deno's child.kill() marks the child as killed by
        // that signal, so a second forward would be skipped and a child that traps the signal
        // and exits with its own code would be reported as killed.
        if (forward && !exited && child.pid !== undefined) {
          try {
            process.kill(child.pid, signal);
          } catch {
            // Already gone: the exit event is on its way.
          }
        }
      };
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
    const cleanup = () => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
    };
    child.once("spawn", () => {
      if (child.pid !== undefined) options.onStart?.(child.pid);
    });
    child.once("error", (error: Error & { code?: string }) => {
      cleanup();
      reject(spawnError(binary, error));
    });
    child.once("exit", (code, signal) => {
      exited = true;
      cleanup();
      if (signal) {
        const number = (osConstants.signals as Record<string, number>)[signal] ?? 0;
        resolve(128 + number);
      } else resolve(code ?? 1);
    });
  });
}

function spawnError(binary: string, error: Error & { code?: string }): Error {
  if (error.code === "ENOENT") return new NotFoundError(binary, { cause: error });
  if (error.code === "EACCES") {
    return new Error(
      `Cannot run "${printable(binary)}": permission denied (is it executable? try chmod +x)`,
      { cause: error },
    );
  }
  return new Error(`Cannot run "${printable(binary)}": ${error.message}`, { cause: error });
}

/** A short random tag for an untagged run, like TiUP's base62 timestamp tags. */
function randomTag(): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let tag = "";
  for (const byte of randomBytes(10)) tag += alphabet[byte % alphabet.length];
  return tag;
}
