/**
 * Shared pieces of the clone and merge end-to-end tests: a served source mirror, a way to run
 * ferry from source as a "binary" for the installers, and a full check of a mirror directory.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import * as nodePath from "node:path";
import { loadComponentManifest } from "../../lib/trust/load_component_manifest.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import {
  ferryCommand,
  freePort,
  runFerry,
  type RunningFerry,
  startFerry,
  usingBinary,
} from "./_cli.ts";

/** Serves `dir` with `ferry mirror serve` on a free loopback port. */
export async function serveMirror(dir: string): Promise<{ url: string; server: RunningFerry }> {
  const port = await freePort();
  const server = await startFerry(
    ["mirror", "serve", dir, "--listen", `127.0.0.1:${port}`, "--access-log", "off"],
    { readyPattern: /Serving .* at / },
  );
  return { url: `http://127.0.0.1:${port}`, server };
}

/**
 * The ferry executable a clone should publish: nothing when the suite runs against the compiled
 * binary (clone packages itself), else a small sh wrapper around `deno run main.ts` written into
 * `dir`, so the installers have a working `ferry` to install.
 */
export async function selfBinaryArgs(dir: string): Promise<string[]> {
  if (usingBinary()) return [];
  const wrapper = nodePath.join(dir, "ferry");
  const argv = ferryCommand().map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(" ");
  await writeFile(wrapper, `#!/bin/sh\nexec ${argv} "$@"\n`, {
    mode: 0o755,
  });
  return ["--ferry-binary", wrapper];
}

/**
 * Checks a mirror directory with `ferry mirror verify` (exit 0), then once more here, the way
 * a client would, from its own root.json: root chain,
 * timestamp, snapshot, index, every component manifest against its owner, and every tarball of
 * every non-yanked version against its signed length and sha256. Returns the components'
 * usable versions ("tidb v1.2.0 linux/amd64").
 */
export async function verifyMirrorDir(dir: string): Promise<string[]> {
  const audit = await runFerry(["mirror", "verify", dir], { timeoutMs: 120_000 });
  assert.equal(audit.code, 0, `ferry mirror verify ${dir}:\n${audit.stdout}${audit.stderr}`);
  const storage = new LocalStorage(dir);
  const state = await loadRepositoryState(storage, { now: new Date() });
  assert.equal(state.expired.length, 0, `expired: ${JSON.stringify(state.expired)}`);
  const usable: string[] = [];
  for (const id of Object.keys(state.index.manifest.signed.components)) {
    const component = await loadComponentManifest(storage, state, id);
    assert.ok(component, `component ${id} is in the index`);
    for (const [platform, versions] of Object.entries(component.manifest.signed.platforms)) {
      for (const [version, item] of Object.entries(versions)) {
        if (item.yanked) continue;
        const bytes = await readFile(nodePath.join(dir, item.url.slice(1)));
        assert.equal(bytes.length, item.length, `length of ${item.url}`);
        assert.equal(
          createHash("sha256").update(bytes).digest("hex"),
          item.hashes.sha256,
          `sha256 of ${item.url}`,
        );
        usable.push(`${id} ${version} ${platform}`);
      }
    }
  }
  return usable.sort();
}

/** A deterministic pseudo-random sequence (mulberry32) for reproducible kill delays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
