/**
 * The registry rig does not outlive a test process that is killed (kill -9, or `timeout` ending
 * a run): its watchdog stops the rig's servers (Distribution, the token and blob servers) once
 * the process that started it is gone.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as nodePath from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { makeTempDir, REPO_ROOT } from "./_cli.ts";

const DENO = nodePath.join(REPO_ROOT, "node_modules", ".bin", "deno");
const RIG_SCRIPT = nodePath.join(REPO_ROOT, "scripts", "rig", "registry-rig.sh");

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
    const rigModule = pathToFileURL(nodePath.join(REPO_ROOT, "tests", "e2e", "_registry_rig.ts"));
    // A test process in miniature: it starts a rig, says where, and then hangs until killed.
    const child = spawn(DENO, [
      "eval",
      `const { startRig } = await import(${JSON.stringify(rigModule.href)});
     const rig = await startRig(${JSON.stringify(nodePath.join(temp.dir, "rig"))});
     console.log("started " + rig.stateDir);
     setInterval(() => {}, 1000);`,
    ], { stdio: ["ignore", "pipe", "inherit"] });
    let rigDir: string | undefined;
    try {
      // startRig may have retried on other ports, in a state dir of its own: it says which.
      rigDir = await new Promise<string>((resolve, reject) => {
        child.stdout!.on("data", (chunk) => {
          const match = /started (\S+)/.exec(String(chunk));
          if (match) resolve(match[1]!);
        });
        child.on("exit", (code) => reject(new Error(`the starter exited (${code}) first`)));
      });
      const pids = readFileSync(nodePath.join(rigDir, "pids"), "utf8").trim().split("\n")
        .map((line) => Number(line.split(" ")[1]));
      assert.ok(pids.length >= 3, `the rig recorded ${pids.length} servers`);
      assert.ok(pids.every(alive), "a rig server was not running");
      child.kill("SIGKILL");
      const deadline = Date.now() + 60_000;
      while (pids.some(alive) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.deepEqual(pids.filter(alive), [], "rig servers outlived the killed test process");
      assert.equal(existsSync(nodePath.join(rigDir, "pids")), false);
    } finally {
      child.kill("SIGKILL");
      // Whatever the watchdog did, nothing of the rig outlives the test.
      if (rigDir !== undefined) {
        execFileSync("bash", [RIG_SCRIPT, "stop", "--state-dir", rigDir], { stdio: "ignore" });
      }
      await temp.remove();
    }
  },
);
