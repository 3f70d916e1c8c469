/** A fake mirror directory and HOME for running the install scripts with sh. */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { hostPlatform } from "../../../lib/client/host_platform.ts";

/** The host's `<os>-<arch>`, as the scripts compute it from uname. */
export function hostSuffix(): string {
  const { os, arch } = hostPlatform();
  return `${os}-${arch}`;
}

/**
 * A client tarball holding `<name>`: a sh script that records `mirror set` calls in
 * `$HOME/mirror-set.log` and prints its version otherwise.
 */
export async function clientTarball(dir: string, name: "ferry" | "tiup"): Promise<string> {
  const work = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-client-"));
  await fs.writeFile(
    nodePath.join(work, name),
    `#!/bin/sh\nif [ "$1" = mirror ]; then echo "$@" >>"$HOME/mirror-set.log"; exit 0; fi\necho "${name} fake"\n`,
    { mode: 0o755 },
  );
  const file = nodePath.join(dir, `${name}-${hostSuffix()}.tar.gz`);
  spawnSync("tar", ["czf", file, "-C", work, name]);
  await fs.rm(work, { recursive: true, force: true });
  return createHash("sha256").update(await fs.readFile(file)).digest("hex");
}

/** Runs `sh script` with a clean environment around HOME. */
export function runScript(
  script: string,
  env: Record<string, string>,
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("sh", input === undefined ? [script] : [], {
    env: { PATH: "/usr/bin:/bin", SHELL: "/bin/sh", ...env },
    encoding: "utf8",
    timeout: 60_000,
    ...(input === undefined ? {} : { input }),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** sha256 of a file. */
export async function fileSha256(path: string): Promise<string> {
  return createHash("sha256").update(await fs.readFile(path)).digest("hex");
}
