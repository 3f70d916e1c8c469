/**
 * Shared by the client tests: a temporary profile, real component tarballs, and a simulated
 * mirror (tests/_simulator.ts) whose tarballs are real `.tar.gz` files.
 *
 * @module
 */
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { type RawEntry, rawTarGz } from "../archive/_raw_tar.ts";
import { assignKeys, MirrorSimulator, type SimulatorKeys, T0 } from "../_simulator.ts";
import { takeTestKeys } from "../_keys.ts";

/** The clock every client test runs at; the simulator's manifests are fresh at this time. */
export const NOW = T0;
export const now = (): Date => NOW;
/** The platform tests install for (not the host's, so results do not depend on the machine). */
export const LINUX_AMD64 = { os: "linux", arch: "amd64" };

/** Keys for one test file, from the pool of test-only keys (tests/_keys.ts). */
export function clientKeys(): Promise<SimulatorKeys> {
  return Promise.resolve(assignKeys(takeTestKeys(6)));
}

/** A fresh profile directory. */
export async function tempHome(label = "ferry-client-test"): Promise<string> {
  return await fs.mkdtemp(nodePath.join(tmpdir(), `${label}-`));
}

/** A component tarball with an executable shell-script entry `name` that echoes its args. */
export function componentTarball(name: string, extra: RawEntry[] = []): Uint8Array {
  return rawTarGz([
    { name, data: `#!/bin/sh\necho "${name} $*"\n`, mode: 0o755 },
    ...extra,
  ]);
}

/** A simulated mirror with `hello` v1.0.0 and v1.1.0 (linux/amd64) built from real tarballs. */
export async function helloMirror(keys: SimulatorKeys): Promise<MirrorSimulator> {
  const sim = await MirrorSimulator.create(keys, { now: NOW });
  await sim.publish("hello", "v1.0.0", { content: componentTarball("hello") });
  await sim.publish("hello", "v1.1.0", { content: componentTarball("hello") });
  return sim;
}

/** Makes `sim`'s root.json the profile's trust anchor, as `ferry mirror set` leaves it. */
export async function trustMirror(home: string, sim: MirrorSimulator): Promise<void> {
  await fs.mkdir(nodePath.join(home, "bin"), { recursive: true });
  await fs.writeFile(nodePath.join(home, "bin", "root.json"), await sim.file("root.json"));
}

/** Lists the files under a directory, recursively, relative to it (hidden ones included). */
export async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (relative: string) => {
    const entries = await fs.readdir(nodePath.join(dir, relative), { withFileTypes: true })
      .catch(() => []);
    for (const entry of entries) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else out.push(path);
    }
  };
  await walk("");
  return out.sort();
}
