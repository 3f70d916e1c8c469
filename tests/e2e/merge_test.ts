/**
 * `ferry mirror merge` as a user runs it: a custom `hello` mirror merged into a clone (owner key
 * found in the clone's own keys/), then re-merged, a conflicting mirror, a missing owner key
 * supplied with --key-dir, and a tampered source.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, before, describe, test } from "node:test";
import { hostPlatform } from "../../lib/client/host_platform.ts";
import { generateSigningKey } from "../../lib/format/generate_key.ts";
import { privateKeyFileText } from "../../lib/format/private_key_file.ts";
import { makeSourceMirror, makeTarball, type SourceMirror } from "../_simulator.ts";
import { makeTempDir, runFerry, type RunningFerry } from "./_cli.ts";
import { selfBinaryArgs, serveMirror, verifyMirrorDir } from "./_clone_fixtures.ts";

const TIMEOUT = { timeout: 600_000 };

describe("ferry mirror merge", () => {
  let upstream: SourceMirror;
  let server: RunningFerry;
  let hello: SourceMirror;
  let work: { dir: string; remove(): Promise<void> };
  let pkg: string;
  const host = hostPlatform();
  const hostPlatformName = `${host.os}/${host.arch}`;

  before(async () => {
    const now = new Date();
    upstream = await makeSourceMirror({ now });
    await upstream.publish("tidb", "v1.0.0", hostPlatformName, { now });
    const served = await serveMirror(upstream.dir);
    server = served.server;
    work = await makeTempDir("ferry-e2e-merge");
    pkg = nodePath.join(work.dir, "pkg");
    const cloned = await runFerry(
      [
        "mirror",
        "clone",
        pkg,
        "--tidb",
        "v1.0.0",
        "--source",
        served.url,
        ...await selfBinaryArgs(work.dir),
      ],
      { timeoutMs: 300_000 },
    );
    assert.equal(cloned.code, 0, cloned.stderr);
    // The custom component, in its own mirror with its own owner (seed 002's walkthrough).
    const owner = (await generateSigningKey()).key;
    hello = await makeSourceMirror({ now, owner });
    await hello.publish("hello", "v0.0.1", hostPlatformName, { now });
    await hello.publish("hello", "v0.0.1", "darwin/arm64", { now });
  }, TIMEOUT);
  after(async () => {
    await server?.stop();
    await upstream?.remove();
    await hello?.remove();
    await work?.remove();
  }, TIMEOUT);

  test(
    "merges a custom component into a clone, signed with the clone's own owner key",
    TIMEOUT,
    async () => {
      const merged = await runFerry(["mirror", "merge", hello.dir, "--mirror", pkg], {
        timeoutMs: 300_000,
      });
      assert.equal(merged.code, 0, merged.stderr);
      assert.match(merged.stdout, new RegExp(`Merged hello v0\\.0\\.1 ${hostPlatformName}`));
      assert.match(merged.stdout, /Merged hello v0\.0\.1 darwin\/arm64/);
      const usable = await verifyMirrorDir(pkg);
      assert.ok(usable.includes(`hello v0.0.1 ${hostPlatformName}`), usable.join("\n"));
      assert.ok(usable.includes(`tidb v1.0.0 ${hostPlatformName}`), "the clone's own stays");

      // A client of the clone runs it.
      const home = nodePath.join(work.dir, "home");
      await fs.mkdir(home);
      const env = {
        HOME: home,
        FERRY_HOME: undefined,
        FERRY_MIRROR: undefined,
        TIUP_MIRRORS: undefined,
      };
      const set = await runFerry(["mirror", "set", pkg, "--silent"], { env });
      assert.equal(set.code, 0, set.stderr);
      const run = await runFerry(["hello"], { env, timeoutMs: 120_000 });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), `hello v0.0.1 ${hostPlatformName}`);
    },
  );

  test("merging the same mirror again adds nothing", TIMEOUT, async () => {
    const again = await runFerry(["mirror", "merge", hello.dir, "--mirror", pkg, "--json"], {
      timeoutMs: 300_000,
    });
    assert.equal(again.code, 0, again.stderr);
    const report = JSON.parse(again.stdout) as {
      sources: Array<{ added: unknown[]; alreadyPresent: number }>;
    };
    assert.deepEqual(report.sources[0]!.added, []);
    assert.equal(report.sources[0]!.alreadyPresent, 2);
  });

  test(
    "a conflicting version is reported, exits 1, and is never overwritten",
    TIMEOUT,
    async () => {
      const rival = await makeSourceMirror({ now: new Date() });
      try {
        await rival.publish("hello", "v0.0.1", hostPlatformName, {
          now: new Date(),
          payload: await makeTarball("hello", "a different hello"),
        });
        await rival.publish("hello", "v0.0.2", hostPlatformName, { now: new Date() });
        const name = `hello-v0.0.1-${host.os}-${host.arch}.tar.gz`;
        const before = await fs.readFile(nodePath.join(pkg, name));
        const result = await runFerry(["mirror", "merge", rival.dir, "--mirror", pkg, "--json"], {
          timeoutMs: 300_000,
        });
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /Conflict: hello v0\.0\.1/);
        const report = JSON.parse(result.stdout) as {
          sources: Array<{ added: Array<{ version: string }>; conflicts: unknown[] }>;
        };
        assert.equal(report.sources[0]!.conflicts.length, 1);
        assert.deepEqual(report.sources[0]!.added.map((a) => a.version), ["v0.0.2"]);
        assert.deepEqual(await fs.readFile(nodePath.join(pkg, name)), before);
        await verifyMirrorDir(pkg);
      } finally {
        await rival.remove();
      }
    },
  );

  test(
    "owner keys come from --key-dir when they are nowhere else (TiUP #1120)",
    TIMEOUT,
    async () => {
      // A base whose only owner ("alice") has her key outside the mirror and the profile.
      const aliceKey = (await generateSigningKey()).key;
      const base = await makeSourceMirror({ now: new Date(), owner: aliceKey });
      await base.publish("hello", "v0.0.0", hostPlatformName, { now: new Date() });
      const keyDir = nodePath.join(work.dir, "alice-keys");
      await fs.mkdir(keyDir);
      await fs.writeFile(nodePath.join(keyDir, "alice.json"), privateKeyFileText(aliceKey), {
        mode: 0o600,
      });
      const home = nodePath.join(work.dir, "empty-home");
      await fs.mkdir(home, { recursive: true });
      const env = { HOME: home, FERRY_HOME: undefined };
      try {
        const refused = await runFerry(["mirror", "merge", hello.dir, "--mirror", base.dir], {
          env,
          timeoutMs: 300_000,
        });
        assert.equal(refused.code, 2, refused.stderr);
        assert.match(refused.stderr, /--key-dir/);
        const merged = await runFerry(
          ["mirror", "merge", hello.dir, "--mirror", base.dir, "--key-dir", keyDir],
          { env, timeoutMs: 300_000 },
        );
        assert.equal(merged.code, 0, merged.stderr);
        assert.ok((await verifyMirrorDir(base.dir)).includes(`hello v0.0.1 ${hostPlatformName}`));
      } finally {
        await base.remove();
      }
    },
  );

  test("a tampered source tarball is refused and nothing of it is merged", TIMEOUT, async () => {
    const bad = await makeSourceMirror({ now: new Date() });
    try {
      const published = await bad.publish("evil", "v1.0.0", hostPlatformName, {
        now: new Date(),
      });
      const file = nodePath.join(bad.dir, published.path);
      const bytes = await fs.readFile(file);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      await fs.writeFile(file, bytes);
      const result = await runFerry(["mirror", "merge", bad.dir, "--mirror", pkg], {
        timeoutMs: 300_000,
      });
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, /sha256/);
      const usable = await verifyMirrorDir(pkg);
      assert.ok(!usable.some((v) => v.startsWith("evil ")));
      await assert.rejects(fs.stat(nodePath.join(pkg, published.path)));
    } finally {
      await bad.remove();
    }
  });
});
