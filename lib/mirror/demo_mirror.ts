import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { packTarball } from "../archive/pack_tarball.ts";
import { LocalStorage } from "../storage/local_storage.ts";
import { collectBytes } from "../storage/read_bytes.ts";
import { generateSigningKey } from "../format/generate_key.ts";
import { grantOwner } from "../writer/grant_owner.ts";
import { hashBytes } from "../format/hash.ts";
import { initRepository } from "../writer/init_repository.ts";
import { privateKeyFileText } from "../format/private_key_file.ts";
import { publishComponent } from "../writer/publish_component.ts";

/** The demo component's script: a POSIX shell "hello" that echoes its arguments. */
const HELLO_SCRIPT = '#!/bin/sh\n# ferry demo component\necho hello "$@"\n';
const DEMO_PLATFORMS = ["linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"];
const DEMO_VERSIONS = ["v1.0.0", "v1.1.0"];

/** Options for {@linkcode ensureDemoMirror}. */
export interface EnsureDemoMirrorOptions {
  now?: Date;
}

/**
 * Makes sure `dir` holds a ready demo mirror, building it on first use: `mirror init`, an owner
 * `demo` granted, and a component `hello` (a POSIX shell script printing `hello` and its
 * arguments) published for linux/amd64, linux/arm64, darwin/amd64 and darwin/arm64 in v1.0.0 and
 * v1.1.0. Keys stay in `<dir>/keys` (never served). The mirror is built in a temporary directory
 * beside `dir` and renamed into place, so `dir` is either absent or complete. An existing `dir`
 * with a root.json is left alone (`created: false`).
 */
export async function ensureDemoMirror(
  dir: string,
  options: EnsureDemoMirrorOptions = {},
): Promise<{ dir: string; created: boolean }> {
  const target = nodePath.resolve(dir);
  if (await exists(nodePath.join(target, "root.json"))) return { dir: target, created: false };
  const parent = nodePath.dirname(target);
  await fs.mkdir(parent, { recursive: true });
  const temp = nodePath.join(
    parent,
    `.${nodePath.basename(target)}.tmp-${randomBytes(6).toString("hex")}`,
  );
  try {
    await buildDemo(temp, options.now ?? new Date());
    try {
      // rename(2) replaces an empty directory, and fails on a non-empty one (ENOTEMPTY/EEXIST).
      await fs.rename(temp, target);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (
        (code === "ENOTEMPTY" || code === "EEXIST") &&
        await exists(nodePath.join(target, "root.json"))
      ) {
        return { dir: target, created: false }; // another process won the race
      }
      throw error;
    }
    return { dir: target, created: true };
  } finally {
    await fs.rm(temp, { recursive: true, force: true });
  }
}

async function buildDemo(dir: string, now: Date): Promise<void> {
  const storage = new LocalStorage(dir);
  await initRepository(storage, { now });
  const owner = (await generateSigningKey()).key;
  await storage.write(`keys/${owner.id.slice(0, 16)}-demo.json`, privateKeyFileText(owner), {
    mode: 0o600,
  });
  await grantOwner(storage, { id: "demo", name: "ferry demo", key: owner.publicInfo }, {
    now,
    commitLog: false,
  });
  const work = await fs.mkdtemp(nodePath.join(dir, ".hello-"));
  try {
    const script = nodePath.join(work, "hello");
    await fs.writeFile(script, HELLO_SCRIPT, { mode: 0o755 });
    await fs.chmod(script, 0o755);
    const bytes = await collectBytes(await packTarball(["hello"], { cwd: work, mtime: now }));
    const digest = hashBytes(bytes);
    for (const version of DEMO_VERSIONS) {
      for (const platform of DEMO_PLATFORMS) {
        await publishComponent(storage, {
          component: "hello",
          version,
          platform,
          entry: "hello",
          description: "Says hello (ferry demo component)",
          tarball: {
            ...digest,
            length: bytes.length,
            open: () => streamOf(bytes),
          },
        }, { key: owner, now, commitLog: false });
      }
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.slice());
      controller.close();
    },
  });
}

async function exists(path: string): Promise<boolean> {
  return await fs.stat(path).then(() => true, () => false);
}
