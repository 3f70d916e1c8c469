/**
 * `ferry mirror publish` on an s3:// mirror (the real Ceph RGW of the project's rig) killed with
 * SIGKILL at several steps of its commit, watched from outside by polling the bucket: once its
 * tarball has landed, once its journal is written, and between the switches of snapshot.json and
 * timestamp.json. After each kill a client that had read the mirror before still reads a
 * consistent mirror (old or new), the next writer waits out the dead writer's lease and
 * recovers, `ferry mirror verify s3://…` passes, and the killed version is all there or not at
 * all.
 *
 * @module
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, describe, it } from "node:test";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { openWritableStorage } from "../../lib/storage/open_storage.ts";
import { collectBytes, readBytes } from "../../lib/storage/read_bytes.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { MirrorUpdater } from "../../lib/trust/mirror_updater.ts";
import { JOURNAL_PATH } from "../../lib/writer/commit_journal.ts";
import { S3_SKIP, s3Rig, stopS3Rig } from "../storage/_s3_rig.ts";
import { makeTempDir, runFerryExpecting, startFerry } from "./_cli.ts";

const TIMEOUT = { timeout: 400_000 };
let temp: { dir: string; remove(): Promise<void> } | undefined;
let env: Record<string, string | undefined> = {};
let mirror = "";
let bucket: Storage;
let started: Promise<void> | undefined;
let serial = 0;

function ferry(args: string[], expectCode = 0) {
  return runFerryExpecting(args, expectCode, { cwd: temp!.dir, env, timeoutMs: 180_000 });
}

function publishArgs(version: string): string[] {
  const platform = ["--os", "linux", "--arch", "amd64"];
  return [
    "mirror",
    "publish",
    "hello",
    version,
    "big.tar.gz",
    "hello",
    ...platform,
    "--mirror",
    mirror,
  ];
}

/** The rig, a profile with an owner key, a mirror with hello v1.0.0, and a 12 MiB tarball. */
function ready(): Promise<void> {
  started ??= (async () => {
    const rig = await s3Rig();
    temp = await makeTempDir("ferry-e2e-s3-crash");
    env = {
      ...rig.env,
      HOME: temp.dir,
      AWS_PROFILE: undefined,
      FERRY_HOME: nodePath.join(temp.dir, "home"),
      FERRY_MIRROR: "",
      TIUP_MIRRORS: "",
    };
    mirror = `s3://${rig.bucket}/e2e-${randomBytes(4).toString("hex")}/mirror`;
    bucket = openWritableStorage(mirror, { env });
    const pkg = nodePath.join(temp.dir, "pkg");
    await fs.mkdir(pkg);
    await fs.writeFile(nodePath.join(pkg, "hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
    // Incompressible, over the 8 MiB multipart threshold: its upload and copy take a while.
    await fs.writeFile(nodePath.join(pkg, "blob"), randomBytes(12 * 1024 * 1024));
    await fs.writeFile(
      nodePath.join(temp.dir, "big.tar.gz"),
      await collectBytes(await packTarball(["hello", "blob"], { cwd: pkg })),
    );
    await ferry(["mirror", "init", mirror]);
    await ferry(["mirror", "genkey"]);
    await ferry(["mirror", "grant", "jdoe", "--mirror", mirror]);
    await ferry(publishArgs("v1.0.0"));
  })();
  return started;
}

/** The etag of `path` in the bucket, or "" when it is absent. */
async function etag(path: string): Promise<string> {
  return await bucket.stat(path).then((s) => s.identity ?? "?", () => "");
}

/** A client of the bucket with a manifest cache (it has read the mirror before). */
function cachedClient(): { refresh(): Promise<string[]> } {
  const cache = new MemoryStorage("mem://client");
  return {
    async refresh() {
      const updater = new MirrorUpdater(bucket, {
        trustedRoot: await readBytes(bucket, "root.json"),
        cache,
      });
      await updater.refresh();
      const hello = await updater.component("hello");
      return Object.keys(hello.signed.platforms["linux/amd64"] ?? {}).sort();
    },
  };
}

/** Versions of hello the bucket lists, read as a new client reads them. */
async function listed(): Promise<string[]> {
  return await cachedClient().refresh();
}

/**
 * Publishes a new version and SIGKILLs the publisher the moment `reached()` (polled on the
 * bucket) holds; returns the version and whether the kill landed before the publisher exited.
 */
async function publishKilledWhen(
  reached: (before: { snapshot: string; timestamp: string }) => Promise<boolean>,
): Promise<{ version: string; killed: boolean }> {
  const version = `v1.0.${++serial}`;
  const before = { snapshot: await etag("snapshot.json"), timestamp: await etag("timestamp.json") };
  const victim = await startFerry(publishArgs(version), { cwd: temp!.dir, env });
  let exited = false;
  victim.exited.then(() => (exited = true));
  try {
    while (!exited && !(await reached(before))) {
      // poll the bucket as fast as it answers
    }
  } finally {
    victim.child.kill("SIGKILL");
  }
  const exit = await victim.exited;
  if (exit.signal !== "SIGKILL") assert.equal(exit.code, 0, victim.stderr());
  return { version, killed: exit.signal === "SIGKILL" };
}

/** Kills publishers at `reached` until one is caught there; checks readers and recovery. */
async function killAndRecover(
  name: string,
  reached: (before: { snapshot: string; timestamp: string }) => Promise<boolean>,
): Promise<void> {
  await ready();
  for (let attempt = 0; attempt < 6; attempt++) {
    const reader = cachedClient();
    const old = await reader.refresh();
    const { version, killed } = await publishKilledWhen(reached);
    if (!killed) continue; // it finished first: try again
    // A reader that had read the mirror reads the old mirror or the new one, never a mix.
    const seen = await reader.refresh();
    assert.ok(
      seen.join() === old.join() || seen.join() === [...old, version].sort().join(),
      `${name}: a reader saw ${seen} (before: ${old})`,
    );
    // The next writer waits out the dead writer's lease, recovers, then does its own publish.
    const next = `v1.0.${++serial}`;
    const recovered = await ferry(publishArgs(next));
    assert.match(recovered.stderr, /Waiting for another writer \(pid \d+/);
    await ferry(["mirror", "verify", mirror]);
    await assert.rejects(bucket.stat(JOURNAL_PATH), `${name}: the journal is still there`);
    const after = await listed();
    for (const v of [...old, next]) assert.ok(after.includes(v), `${name}: lost ${v}: ${after}`);
    // The killed one is all there (verify checked its tarball) or not at all.
    assert.ok(
      [[...old, next], [...old, version, next]].some((v) => v.sort().join() === after.join()),
      `${name}: ${after}`,
    );
    return;
  }
  assert.fail(`${name}: never caught a publisher there in 6 attempts`);
}

describe(
  "ferry mirror publish on s3:// killed with SIGKILL during its commit",
  { skip: S3_SKIP },
  () => {
    after(async () => {
      await temp?.remove();
      await stopS3Rig();
    });

    it("killed once its tarball has landed: the next writer recovers", TIMEOUT, async () => {
      await killAndRecover(
        "tarball",
        async () => (await etag(`hello-v1.0.${serial}-linux-amd64.tar.gz`)) !== "",
      );
    });

    it(
      "killed once its journal is written: the next writer completes or undoes it",
      TIMEOUT,
      async () => {
        await killAndRecover("journal", async () => (await etag(JOURNAL_PATH)) !== "");
      },
    );

    it("killed between the switches of snapshot.json and timestamp.json", TIMEOUT, async () => {
      await killAndRecover(
        "switch",
        async (before) =>
          (await etag("snapshot.json")) !== before.snapshot &&
          (await etag("timestamp.json")) === before.timestamp,
      );
    });
  },
);
