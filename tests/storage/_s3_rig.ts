/**
 * Starts the project's S3 rig (scripts/rig/s3-rig.sh: Ceph RADOS Gateway on a one-node memstore
 * cluster) once per test file, in a private state dir on free ports, and stops it by its recorded
 * pids in an `after` hook. Suites call {@linkcode s3Rig} from their first test (Bun limits hooks
 * to 5 s; the rig takes ~20 s to start) and register {@linkcode stopS3Rig} with `after`.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";
import { loadS3Config } from "../../lib/storage/s3_config.ts";
import { S3Storage, type S3StorageOptions } from "../../lib/storage/s3_storage.ts";
import { run } from "../e2e/_registry_rig.ts";
import { watchRig } from "../_rig_watchdog.ts";

const REPO_ROOT = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "../..");
/** The rig script: part of this repository. */
export const S3_RIG_SCRIPT = nodePath.join(REPO_ROOT, "scripts", "rig", "s3-rig.sh");
const TOOLS = ["ceph", "ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "curl"];

/** A running rig. */
export interface S3Rig {
  stateDir: string;
  /** The variables of `<state>/s3.env` (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, S3_BUCKET, …). */
  env: Record<string, string>;
  bucket: string;
  /** A fresh, empty storage under its own prefix of the rig's bucket. */
  storage(options?: Partial<S3StorageOptions>): Promise<S3Storage>;
  /** Removes every object under the storage's prefix. */
  empty(storage: S3Storage): Promise<void>;
}

/**
 * Why the S3 suites cannot run here, or undefined when they can: only when Ceph is not
 * installed (CI installs it: .ci/run and scripts/test.sh list its packages).
 */
export const S3_SKIP: string | false = await (async () => {
  const missing: string[] = [];
  for (const tool of TOOLS) {
    if (
      !(await run("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool}`], 10_000)
        .then(() => true, () => false))
    ) missing.push(tool);
  }
  return missing.length === 0 ? false : `Ceph is not installed (missing ${missing.join(", ")}): ` +
    `run "sudo ${S3_RIG_SCRIPT} install" to run the S3 suites`;
})();

let started: Promise<S3Rig> | undefined;
let stateDir: string | undefined;
let port = 0;

/** The rig, started on first use. */
export function s3Rig(): Promise<S3Rig> {
  started ??= start();
  return started;
}

/** Stops the rig (if started) by its pids and removes its state dir. */
export async function stopS3Rig(): Promise<void> {
  if (stateDir === undefined) return;
  const dir = stateDir;
  stateDir = undefined;
  started = undefined;
  await run("bash", [S3_RIG_SCRIPT, "stop", "--state-dir", dir], 60_000).catch(() => {});
  await rm(dir, { recursive: true, force: true });
}

async function start(): Promise<S3Rig> {
  if (S3_SKIP) throw new Error(S3_SKIP);
  stateDir = await mkdtemp(nodePath.join(tmpdir(), "ferry-s3rig-"));
  // radosgw binds its port seconds after the check: another process may take it meanwhile.
  // A start that failed stopped what it started; the next try uses other ports.
  for (let attempt = 1;; attempt++) {
    port = await freePortRange(30);
    try {
      await run(
        "bash",
        [S3_RIG_SCRIPT, "start", "--state-dir", stateDir, "--port", String(port)],
        240_000,
      );
      break;
    } catch (error) {
      if (attempt === 3 || !/already in use/.test(String(error))) throw error;
    }
  }
  watchRig(stateDir, S3_RIG_SCRIPT, true);
  const env: Record<string, string> = {};
  for (const line of (await readFile(nodePath.join(stateDir, "s3.env"), "utf8")).split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!;
  }
  const bucket = env.S3_BUCKET!;
  // Only what the rig says: no profile of the machine's user leaks into the tests.
  const config = await loadS3Config({ ...env, HOME: stateDir });
  return {
    stateDir,
    env,
    bucket,
    // deno-lint-ignore require-await
    async storage(options = {}) {
      const prefix = `t-${randomBytes(6).toString("hex")}/`;
      return new S3Storage({ bucket, prefix }, { config, retryDelayMs: 50, ...options });
    },
    async empty(storage) {
      const paths: string[] = [];
      for await (const file of storage.list("")) paths.push(file.path);
      for (const path of paths) await storage.delete(path).catch(() => {});
      await storage.sweepTempFiles({ before: new Date(Date.now() + 60_000) });
    },
  };
}

/** A base port whose next `count` ports are all free on loopback (checked, then used). */
async function freePortRange(count: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    // Below Linux's ephemeral range (32768 and up), which outgoing connections draw from.
    const base = 10000 + 30 * Math.floor(Math.random() * 700);
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await portFree(p);
    if (free) return base;
  }
  throw new Error("Cannot find 30 free ports in a row on 127.0.0.1");
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
