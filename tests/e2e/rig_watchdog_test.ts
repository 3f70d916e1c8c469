/**
 * The registry rig does not outlive a test process that is killed (kill -9, or `timeout` ending
 * a run): its watchdog stops the rig's servers (Distribution, the token and blob servers) once
 * the process that started it is gone.
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as nodePath from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { makeTempDir, REPO_ROOT } from "./_cli.ts";

const DENO = nodePath.join(REPO_ROOT, "node_modules", ".bin", "deno");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test(
  "a killed test process takes its registry rig down with it",
  { timeout: 240_000 },
  async () => {
    const temp = await makeTempDir("ferry-e2e-rig-watchdog");
    const stateDir = nodePath.join(temp.dir, "rig");
    const rigModule = pathToFileURL(nodePath.join(REPO_ROOT, "tests", "e2e", "_registry_rig.ts"));
    // A test process in miniature: it starts a rig, says so, and then hangs until killed.
    const child = spawn(DENO, [
      "eval",
      `const { startRig } = await import(${JSON.stringify(rigModule.href)});
     await startRig(${JSON.stringify(stateDir)});
     console.log("started");
     setInterval(() => {}, 1000);`,
    ], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on("data", (chunk) => String(chunk).includes("started") && resolve());
        child.on("exit", (code) => reject(new Error(`the starter exited (${code}) first`)));
      });
      const pids = readFileSync(nodePath.join(stateDir, "pids"), "utf8").trim().split("\n")
        .map((line) => Number(line.split(" ")[1]));
      assert.ok(pids.length >= 3, `the rig recorded ${pids.length} servers`);
      assert.ok(pids.every(alive), "a rig server was not running");
      child.kill("SIGKILL");
      const deadline = Date.now() + 60_000;
      while (pids.some(alive) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.deepEqual(pids.filter(alive), [], "rig servers outlived the killed test process");
      assert.equal(existsSync(nodePath.join(stateDir, "pids")), false);
    } finally {
      child.kill("SIGKILL");
      await temp.remove();
    }
  },
);
