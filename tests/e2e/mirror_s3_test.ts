/**
 * Mirrors on S3 through the real CLI, against the real Ceph RGW of the project's rig: init,
 * grant, publish (two publishers in two processes at once, excluded from each other by the
 * lease), modify, renew, verify, clone in and out of a bucket, and a client reading the bucket
 * directly.
 *
 * @module
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, describe, it } from "node:test";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { openWritableStorage } from "../../lib/storage/open_storage.ts";
import { collectBytes, readText } from "../../lib/storage/read_bytes.ts";
import { S3_SKIP, s3Rig, stopS3Rig } from "../storage/_s3_rig.ts";
import { makeTempDir, runFerryExpecting, startFerry } from "./_cli.ts";

const TIMEOUT = { timeout: 300_000 };
let temp: { dir: string; remove(): Promise<void> } | undefined;
let env: Record<string, string | undefined> = {};
let mirror = "";
/** What `ferry mirror init` printed (stdout and stderr). */
let initOutput = "";
let started: Promise<void> | undefined;

function ferry(args: string[], expectCode = 0) {
  return runFerryExpecting(args, expectCode, { cwd: temp!.dir, env, timeoutMs: 180_000 });
}

/** `ferry mirror publish hello VERSION` for linux/amd64 into the bucket. */
function publish(version: string) {
  const tarball = `hello-${version}.tar.gz`;
  const platform = ["--os", "linux", "--arch", "amd64"];
  return ferry([
    "mirror",
    "publish",
    "hello",
    version,
    tarball,
    "hello",
    ...platform,
    "--mirror",
    mirror,
  ]);
}

/** The rig, a profile with an owner key, and an initialised mirror in a fresh prefix. */
function ready(): Promise<void> {
  started ??= (async () => {
    const rig = await s3Rig();
    temp = await makeTempDir("ferry-e2e-s3");
    // Only the rig's settings: HOME points where there is no ~/.aws of the machine's user.
    env = {
      ...rig.env,
      HOME: temp.dir,
      AWS_PROFILE: undefined,
      FERRY_HOME: nodePath.join(temp.dir, "home"),
      FERRY_MIRROR: "",
      TIUP_MIRRORS: "",
    };
    mirror = `s3://${rig.bucket}/e2e-${randomBytes(4).toString("hex")}/mirror`;
    for (const version of ["v1", "v2", "v3", "v4"]) {
      const pkg = nodePath.join(temp.dir, `pkg-${version}`);
      await fs.mkdir(pkg);
      await fs.writeFile(nodePath.join(pkg, "hello"), `#!/bin/sh\necho ${version}\n`, {
        mode: 0o755,
      });
      await fs.writeFile(
        nodePath.join(temp.dir, `hello-${version}.tar.gz`),
        await collectBytes(await packTarball(["hello"], { cwd: pkg })),
      );
    }
    const init = await ferry(["mirror", "init", mirror]);
    initOutput = init.stdout + init.stderr;
    await ferry(["mirror", "genkey"]);
    await ferry(["mirror", "grant", "jdoe", "--mirror", mirror]);
  })();
  return started;
}

describe("ferry mirror on s3://", { skip: S3_SKIP }, () => {
  // Inside the describe: Bun runs a file-level after() only for tests outside any describe.
  after(async () => {
    await temp?.remove();
    await stopS3Rig();
  });

  it("init names the keys it wrote by their s3:// URLs", TIMEOUT, async () => {
    await ready();
    const keys = [...initOutput.matchAll(/^\s*key: (\S+)$/gm)].map((m) => m[1]!);
    assert.equal(keys.length, 6, initOutput);
    for (const key of keys) assert.ok(key.startsWith(`${mirror}/keys/`), key);
  });

  it(
    "two publishers in two processes at once: both versions land, verify passes",
    TIMEOUT,
    async () => {
      await ready();
      const [one, two] = await Promise.all([publish("v1"), publish("v2")]);
      // At most one of them found the lease taken, and said it waited rather than failing.
      const waited = [one, two].filter((r) => /Waiting for another writer/.test(r.stderr));
      assert.ok(waited.length <= 1, `${one.stderr}\n${two.stderr}`);
      const verify = await ferry(["mirror", "verify", mirror]);
      assert.match(verify.stdout + verify.stderr, /\bOK\b|no problems|verified/i);
      // A client reads the bucket directly and sees both versions.
      await ferry(["mirror", "set", mirror]);
      const list = await ferry(["list", "hello"]);
      assert.match(list.stdout, /v1/);
      assert.match(list.stdout, /v2/);
    },
  );

  it(
    "a publisher killed with SIGKILL holding the lease: the next waits out its expiry, then lands",
    TIMEOUT,
    async () => {
      await ready();
      const bucket = openWritableStorage(mirror, { env });
      const tarball = "hello-v1.tar.gz";
      const platform = ["--os", "linux", "--arch", "amd64"];
      const victim = await startFerry(
        ["mirror", "publish", "hello", "v0.9", tarball, "hello", ...platform, "--mirror", mirror],
        { env, cwd: temp!.dir },
      );
      try {
        // Killed the moment the lease names it: it never releases it, nor renews it again.
        let holding = false;
        for (let i = 0; i < 600 && !holding; i++) {
          const lease = await readText(bucket, "lock").catch(() => "{}");
          const body = JSON.parse(lease);
          holding = body.pid === victim.pid && body.expires > 0;
          if (!holding) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.ok(holding, "the publisher never took the lease");
      } finally {
        victim.child.kill("SIGKILL");
        await victim.exited;
      }
      const next = await publish("v4");
      assert.match(next.stderr, /Waiting for another writer \(pid \d+/);
      await ferry(["mirror", "verify", mirror]);
    },
  );

  it("modify, renew and a third publish keep the mirror verifiable", TIMEOUT, async () => {
    await ready();
    const m = ["--mirror", mirror];
    await ferry(["mirror", "modify", "hello", "--desc", "Says hello", ...m]);
    await ferry(["mirror", "renew", "hello", "--days", "365", ...m]);
    await publish("v3");
    await ferry(["mirror", "verify", mirror]);
  });

  it(
    "clones s3:// into a directory and that directory into another s3:// prefix",
    TIMEOUT,
    async () => {
      await ready();
      const dir = nodePath.join(temp!.dir, "cloned");
      await ferry(["mirror", "clone", dir, "--source", mirror, "--full", "--skip-ferry-binary"]);
      await ferry(["mirror", "verify", dir]);
      assert.ok((await fs.readdir(dir)).includes("root.json"));
      const copy = `${mirror}-copy`;
      await ferry(["mirror", "clone", copy, "--source", dir, "--full", "--skip-ferry-binary"]);
      await ferry(["mirror", "verify", copy]);
      const listing = await ferry(["mirror", "verify", copy, "--json"]);
      assert.equal(JSON.parse(listing.stdout).ok, true);
      // Keys stay where they are on disk: under PREFIX/keys/ of the bucket.
      const bucket = openWritableStorage(copy, { env });
      const keys = (await Array.fromAsync(bucket.list("keys/"))).map((f) => f.path);
      assert.ok(keys.some((k) => /^keys\/[0-9a-f]{16}-timestamp\.json$/.test(k)), keys.join(", "));
    },
  );
});
