/**
 * Starts the project's registry rig (scripts/rig/registry-rig.sh: CNCF Distribution, token
 * server, Basic auth, TLS, CDN-style redirects, a Distribution pull-through cache) for an e2e
 * test, in a private state dir on a private port range, and stops it by its recorded pids.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as nodePath from "node:path";
import { watchRig } from "../_rig_watchdog.ts";
import { REPO_ROOT } from "./_cli.ts";

/** Tools the rig and the tests need on PATH (`scripts/rig/registry-rig.sh install` gets them). */
export const RIG_TOOLS = [
  "docker-registry",
  "skopeo",
  "node",
  "jq",
  "openssl",
  "curl",
  "setsid",
  "htpasswd",
];

/** A seeded image: repository, tag, manifest digest and media type. */
export interface SeedImage {
  repo: string;
  tag: string;
  digest: string;
  mediaType: string;
  size: number;
}

/** A running, seeded rig. */
export interface RunningRig {
  stateDir: string;
  basePort: number;
  /** The variables of `<state>/rig.env` (RIG_UPSTREAM_URL, RIG_TOKEN_URL, …). */
  env: Record<string, string>;
  images: SeedImage[];
  bigLayer: { repo: string; digest: string; size: number };
  /** The manifest digest of a seeded repo:tag. */
  digest(repo: string, tag: string): string;
  /** Lines of one instance's log (`upstream`, `blobsrv`, …). */
  log(instance: string): Promise<string[]>;
  stop(): Promise<void>;
}

/** The rig script, which is part of this repository (a test needs nothing outside it). */
export function rigScript(): string {
  const script = nodePath.join(REPO_ROOT, "scripts", "rig", "registry-rig.sh");
  if (!existsSync(script)) throw new Error(`Cannot find the registry rig at "${script}"`);
  return script;
}

/** Throws a clear error naming the missing tools and how to install them. */
export async function requireRigTools(): Promise<void> {
  const missing: string[] = [];
  for (const tool of RIG_TOOLS) {
    const ok = await run("sh", ["-c", `command -v ${tool}`], 10_000).then(() => true, () => false);
    if (!ok) missing.push(tool);
  }
  if (missing.length > 0) {
    throw new Error(
      `The registry rig needs ${missing.join(", ")} on PATH: run ` +
        `"sudo ${rigScript()} install" (CI does this before the e2e suite)`,
    );
  }
}

/**
 * A base port for a rig: ports base..base+9, all below Linux's ephemeral range (32768 and up),
 * where an outgoing connection of any process may take a port between the rig's check that it
 * is free and the registry's bind.
 */
export function pickRigBasePort(): number {
  return 12000 + 10 * Math.floor(Math.random() * 2000);
}

/**
 * Starts and seeds a rig in `stateDir` on ports `basePort`..`basePort+8` (default: picked by
 * {@linkcode pickRigBasePort}). A start that fails, as when another process took one of the
 * ports meanwhile, is retried twice on other ports, in state dirs of its own.
 */
export async function startRig(stateDir: string, basePort?: number): Promise<RunningRig> {
  await requireRigTools();
  for (let attempt = 1;; attempt++) {
    const dir = attempt === 1 ? stateDir : `${stateDir}-${attempt}`;
    const base = attempt === 1 && basePort !== undefined ? basePort : pickRigBasePort();
    try {
      return await startRigOnce(dir, base);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startRigOnce(stateDir: string, basePort: number): Promise<RunningRig> {
  const script = rigScript();
  const args = ["--state-dir", stateDir, "--base-port", String(basePort)];
  const stop = async () => {
    await run("bash", [script, "stop", ...args], 60_000).catch(() => {});
  };
  try {
    await run("bash", [script, "start", ...args], 120_000);
    // Its servers (Distribution, the token and blob servers) must not outlive a killed run.
    watchRig(stateDir, script, false);
    await run("bash", [script, "seed", ...args], 240_000);
  } catch (error) {
    await stop();
    throw error;
  }
  const env: Record<string, string> = {};
  for (const line of (await readFile(nodePath.join(stateDir, "rig.env"), "utf8")).split("\n")) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!;
  }
  const seed = JSON.parse(await readFile(nodePath.join(stateDir, "seed.json"), "utf8"));
  const images = seed.images as SeedImage[];
  return {
    stateDir,
    basePort,
    env,
    images,
    bigLayer: seed.bigLayer,
    digest(repo, tag) {
      const image = images.find((i) => i.repo === repo && i.tag === tag);
      if (!image) throw new Error(`The rig has no ${repo}:${tag}`);
      return image.digest;
    },
    async log(instance) {
      const text = await readFile(nodePath.join(stateDir, "logs", `${instance}.log`), "utf8")
        .catch(() => "");
      return text.split("\n");
    },
    stop,
  };
}

/** Runs a command to completion (bounded), rejecting with its output on failure. */
export function run(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stderr}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}
