/**
 * Stops a rig (scripts/rig/*.sh) if the test process that started it ends without stopping it:
 * a crash, a kill -9, `timeout` ending the run, or Deno skipping a file-level `after` hook that
 * --filter left out. A detached shell polls the test process's pid and exits as soon as the
 * rig's `pids` file is gone (a normal stop); otherwise it runs the rig's own `stop`, which
 * signals only the pids the rig recorded, and removes the state dir when `removeStateDir`.
 *
 * @module
 */
import { spawn } from "node:child_process";

/** Watches the rig in `stateDir`, started by `script` (bash), on behalf of this process. */
export function watchRig(stateDir: string, script: string, removeStateDir: boolean): void {
  const cleanup = removeStateDir ? `rm -rf "$1"; ` : "";
  const poll =
    `while kill -0 ${process.pid} 2>/dev/null && [ -s "$1/pids" ]; do sleep 0.2; done; ` +
    `if [ -s "$1/pids" ]; then bash "$2" stop --state-dir "$1"; ${cleanup}fi`;
  spawn("sh", ["-c", poll, "rig-watchdog", stateDir, script], {
    detached: true,
    stdio: "ignore",
  }).unref();
}
