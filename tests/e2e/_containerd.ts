/**
 * A containerd daemon of a test's own: its own config, root, state and socket under a temp
 * directory, no CRI, no network listener (only the unix socket), the native snapshotter (works
 * inside containers, where overlayfs may not), killed after `lifetimeMs` whatever happens to the
 * test, and stopped by its pid. Debian's `containerd` package provides containerd and ctr.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { run } from "./_registry_rig.ts";

/** A running containerd and a ctr bound to it. */
export interface RunningContainerd {
  /** The gRPC socket. */
  address: string;
  pid: number;
  /** Runs `ctr --address SOCK -n NAMESPACE args…` (bounded), rejecting with its output. */
  ctr(namespace: string, args: string[], timeoutMs?: number): Promise<string>;
  /** The daemon's log so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Plugins that need the kernel, a network or a CRI setup this test does not have. */
const DISABLED_PLUGINS = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.overlayfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
];

/** Starts containerd in `dir` (which must exist) and waits until ctr can talk to it. */
export async function startContainerd(
  dir: string,
  options: { lifetimeMs?: number } = {},
): Promise<RunningContainerd> {
  const address = nodePath.join(dir, "containerd.sock");
  const config = nodePath.join(dir, "config.toml");
  const logFile = nodePath.join(dir, "containerd.log");
  await fs.writeFile(
    config,
    `version = 2
root = "${nodePath.join(dir, "root")}"
state = "${nodePath.join(dir, "state")}"
disabled_plugins = ${JSON.stringify(DISABLED_PLUGINS)}
[grpc]
  address = "${address}"
[ttrpc]
  address = "${address}.ttrpc"
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""
`,
  );
  const out = await fs.open(logFile, "w");
  const lifetime = Math.ceil((options.lifetimeMs ?? 600_000) / 1000);
  let child: ChildProcess;
  try {
    // timeout(1) bounds the daemon's life even if this test process is killed.
    child = spawn("timeout", ["-s", "KILL", String(lifetime), "containerd", "--config", config], {
      stdio: ["ignore", out.fd, out.fd],
    });
  } finally {
    await out.close();
  }
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const pid = child.pid ?? -1;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(pid, "SIGTERM"); // timeout(1) passes it on to containerd
    const timer = setTimeout(() => {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }, 10_000);
    await exited;
    clearTimeout(timer);
  };
  const ctr = async (namespace: string, args: string[], timeoutMs = 120_000) =>
    (await run("ctr", ["--address", address, "-n", namespace, ...args], timeoutMs)).stdout;
  const log = () => fs.readFile(logFile, "utf8").catch(() => "");
  for (let attempt = 0;; attempt++) {
    const up = await ctr("default", ["version"], 5_000).then(() => true, () => false);
    if (up) break;
    if (attempt >= 40 || child.exitCode !== null) {
      await stop();
      throw new Error(`containerd did not start:\n${await log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { address, pid, ctr, log, stop };
}
