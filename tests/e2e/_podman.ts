/**
 * A podman of a test's own: its own storage root, run root, tmpdir, registries.conf,
 * containers.conf, storage.conf, signature policy, auth file and XDG/HOME dirs under one
 * directory, so that no system configuration or image store is read or touched (Debian's
 * `podman` package; `podman pull` needs no container runtime, network or cgroup setup). The
 * vfs storage driver works where overlayfs and fuse-overlayfs do not (inside containers).
 *
 * One thing no flag, variable or config file of podman 4.3 moves: as root, its blob-info cache
 * is /var/lib/containers/cache/blob-info-cache-v1.boltdb (rootless, it is under
 * XDG_DATA_HOME). So a root podman runs in a private mount namespace (`unshare --mount`) with
 * a private directory bound over /var/lib/containers, when that exists (skopeo makes it).
 *
 * @module
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";

/** A podman bound to a private directory. */
export interface IsolatedPodman {
  /** Runs `podman <isolation flags> args…` (bounded), rejecting with its output on failure. */
  run(args: string[], timeoutMs?: number): Promise<string>;
  /** Removes the whole private directory (its image store included). */
  remove(): Promise<void>;
}

/** One `[[registry]]` table of registries.conf (v2 format). */
export interface PodmanRegistry {
  /** What an image name must start with for the entry to apply (`prefix`, or `location`). */
  prefix?: string;
  location: string;
  insecure?: boolean;
  /** Plain-HTTP (insecure) mirrors tried before `location`. */
  mirrors?: string[];
}

/** The registries.conf text for `registries` (nothing unqualified, nothing from the system). */
export function registriesConf(registries: PodmanRegistry[]): string {
  const lines = ["unqualified-search-registries = []", 'short-name-mode = "disabled"'];
  for (const registry of registries) {
    lines.push("", "[[registry]]");
    if (registry.prefix) lines.push(`prefix = "${registry.prefix}"`);
    lines.push(`location = "${registry.location}"`, `insecure = ${registry.insecure ?? false}`);
    for (const mirror of registry.mirrors ?? []) {
      lines.push("[[registry.mirror]]", `location = "${mirror}"`, "insecure = true");
    }
  }
  return lines.join("\n") + "\n";
}

/** Writes podman's private configuration into `dir` (created) for `registries`. */
export async function makeIsolatedPodman(
  dir: string,
  registries: PodmanRegistry[],
): Promise<IsolatedPodman> {
  const at = (name: string) => nodePath.join(dir, name);
  const subdirs = [
    "root",
    "tmp",
    "home",
    "xdg-config",
    "xdg-data",
    "xdg-run",
    "var-lib",
  ];
  for (const sub of subdirs) {
    await fs.mkdir(at(sub), { recursive: true, mode: 0o700 });
  }
  // podman 4.3 refuses a run root longer than 50 characters (its sockets live there), which a
  // test's nested temp dir easily is: the run root is a short directory of its own.
  const runroot = await fs.mkdtemp("/tmp/ferry-podman-");
  await fs.writeFile(at("registries.conf"), registriesConf(registries));
  await fs.writeFile(
    at("storage.conf"),
    `[storage]\ndriver = "vfs"\ngraphroot = "${at("root")}"\nrunroot = "${runroot}"\n`,
  );
  // The file events backend and cgroupfs: no journald or systemd is needed (or present).
  await fs.writeFile(
    at("containers.conf"),
    `[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\ntmp_dir = "${at("tmp")}"\n`,
  );
  await fs.writeFile(
    at("policy.json"),
    JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }),
  );
  await fs.writeFile(at("auth.json"), "{}");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: at("home"),
    TMPDIR: at("tmp"),
    XDG_CONFIG_HOME: at("xdg-config"),
    XDG_DATA_HOME: at("xdg-data"),
    XDG_RUNTIME_DIR: at("xdg-run"),
    CONTAINERS_REGISTRIES_CONF: at("registries.conf"),
    CONTAINERS_CONF: at("containers.conf"),
    CONTAINERS_STORAGE_CONF: at("storage.conf"),
    REGISTRY_AUTH_FILE: at("auth.json"),
  };
  const flags = [
    "--root",
    at("root"),
    "--runroot",
    runroot,
    "--storage-driver",
    "vfs",
    "--tmpdir",
    at("tmp"),
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
  ];
  const systemState = "/var/lib/containers";
  const privateMounts = process.getuid?.() === 0 && existsSync(systemState);
  return {
    run(args, timeoutMs = 180_000) {
      // `pull` alone takes the private signature policy (other subcommands have no such flag).
      const policy = args[0] === "pull" ? ["--signature-policy", at("policy.json")] : [];
      const all = [...flags, args[0]!, ...policy, ...args.slice(1)];
      const [command, commandArgs] = privateMounts
        ? [
          "unshare",
          [
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount --bind "$0" "$1" && shift && exec podman "$@"',
            at("var-lib"),
            systemState,
            ...all,
          ],
        ]
        : ["podman", all];
      return new Promise((resolve, reject) => {
        execFile(
          command,
          commandArgs,
          { env, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) => {
            if (error) {
              reject(new Error(`podman ${all.join(" ")} failed: ${error.message}\n${stderr}`));
            } else resolve(stdout);
          },
        );
      });
    },
    async remove() {
      await fs.rm(runroot, { recursive: true, force: true });
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
