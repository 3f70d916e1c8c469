/**
 * Issue 8, items 18 and 21, as a user meets them: a mirror built with the real CLI, served by
 * `ferry mirror serve`, read by `ferry` clients with profiles of their own.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, describe, it } from "node:test";
import type { ServerResponse } from "node:http";
import { type HostileRoute, startHostileServer } from "../storage/_hostile_server.ts";
import {
  freePort,
  makeTempDir,
  type RunFerryOptions,
  runFerryWithProfile,
  type RunningFerry,
  startFerry,
} from "./_cli.ts";

const TIMEOUT = { timeout: 180_000 };

describe("ferry mirror serve and the client, hardened", () => {
  let base: { dir: string; remove(): Promise<void> };
  let mirror: string;
  let publisher: string;
  let server: RunningFerry;
  let url: string;

  const ferry = (args: string[], home: string, options: RunFerryOptions = {}) =>
    runFerryWithProfile(args, home, options);
  const newHome = async (name: string) => {
    const dir = nodePath.join(base.dir, name);
    await fs.mkdir(dir);
    return dir;
  };
  const ok = async (args: string[], home: string) => {
    const result = await ferry(args, home);
    assert.equal(result.code, 0, `ferry ${args.join(" ")}: ${result.stderr}`);
    return result;
  };

  let started: Promise<void> | undefined;
  /**
   * Builds and serves the mirror once, from the first test (not in a before() hook: Bun gives
   * hooks 5 s whatever the options say).
   */
  const ready = () => started ??= setUp();
  async function setUp(): Promise<void> {
    base = await makeTempDir("ferry-e2e-serve-hardening");
    mirror = nodePath.join(base.dir, "mirror");
    publisher = await newHome("publisher");
    await ok(["mirror", "init", mirror], publisher);
    await ok(["mirror", "genkey"], publisher);
    await ok(["mirror", "grant", "jdoe", "--mirror", mirror], publisher);
    const pkg = nodePath.join(base.dir, "pkg");
    await fs.mkdir(pkg);
    await fs.writeFile(nodePath.join(pkg, "hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
    const tarball = nodePath.join(base.dir, "hello.tar.gz");
    execFileSync("tar", ["-czf", tarball, "-C", pkg, "hello"], { timeout: 30_000 });
    await ok(
      ["mirror", "publish", "hello", "v0.0.1", tarball, "hello", "--mirror", mirror],
      publisher,
    );

    const port = await freePort();
    server = await startFerry(["mirror", "serve", mirror, "--listen", `127.0.0.1:${port}`], {
      readyPattern: /Serving .* at (https?:\/\/\S+)/,
    });
    url = `http://127.0.0.1:${port}`;
  }
  after(async () => {
    await server?.stop();
    await base?.remove();
  }, TIMEOUT);

  it(
    "never serves private keys or the lock through symlinks inside the mirror",
    TIMEOUT,
    async () => {
      await ready();
      const keyFiles = await fs.readdir(nodePath.join(mirror, "keys"));
      const rootKey = keyFiles.find((name) => name.endsWith("-root.json"))!;
      const secret = await fs.readFile(nodePath.join(mirror, "keys", rootKey), "utf8");
      await fs.writeFile(nodePath.join(mirror, "lock"), "");
      const links = [
        [".", "self"],
        ["keys", "pubkeys"],
        [`keys/${rootKey}`, "rootkey.json"],
      ];
      try {
        for (const [target, link] of links) {
          await fs.symlink(target!, nodePath.join(mirror, link!));
        }
        for (
          const path of [
            `/self/keys/${rootKey}`,
            `/pubkeys/${rootKey}`,
            "/rootkey.json",
            "/self/lock",
          ]
        ) {
          for (const method of ["GET", "GET", "HEAD"]) {
            const response = await fetch(`${url}${path}`, { method });
            const body = await response.text();
            assert.equal(response.status, 404, `${method} ${path}`);
            assert.ok(!body.includes(secret.slice(0, 200)), `${path} served the private key`);
          }
        }
        const through = await fetch(`${url}/self/timestamp.json`);
        assert.equal(through.status, 200);
        assert.deepEqual(
          new Uint8Array(await through.arrayBuffer()),
          new Uint8Array(await fs.readFile(nodePath.join(mirror, "timestamp.json"))),
        );
      } finally {
        for (const [, link] of links) await fs.rm(nodePath.join(mirror, link!), { force: true });
        await fs.rm(nodePath.join(mirror, "lock"), { force: true });
      }
    },
  );

  it(
    "a client whose cached manifest went stale with a yank fetches it again (no exit 4)",
    TIMEOUT,
    async () => {
      await ready();
      const home = await newHome("yank");
      await ok(["mirror", "set", url, "--silent"], home);
      const before = await ok(["list", "hello"], home);
      assert.match(before.stdout, /v0\.0\.1/);
      // The yank makes hello.json one byte shorter ("yanked": false → true) than the cached copy.
      await ok(["mirror", "modify", "hello:v0.0.1", "--yank", "--mirror", mirror], publisher);
      const all = await ferry(["list", "hello", "--all"], home);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /v0\.0\.1/);
      assert.match(all.stdout, /yanked/i);
      const visible = await ferry(["list", "hello"], home);
      assert.equal(visible.code, 0, visible.stderr);
      assert.doesNotMatch(visible.stdout, /v0\.0\.1/);
    },
  );

  it(
    "a mirror that drips timestamp.json a byte a second fails install within seconds, exit 4",
    TIMEOUT,
    async () => {
      await ready();
      const home = await newHome("drip");
      const served = ["root.json", "timestamp.json", "snapshot.json"];
      const files = new Map<string, Uint8Array>();
      for (const name of served) {
        files.set(`/${name}`, await fs.readFile(nodePath.join(mirror, name)));
      }
      for (const name of await fs.readdir(mirror)) {
        if (/^\d+\.(root|index)\.json$/.test(name)) {
          files.set(`/${name}`, await fs.readFile(nodePath.join(mirror, name)));
        }
      }
      // Honest while `mirror set` checks the root against the mirror; a drip afterwards.
      let drip = false;
      const honest = (path: string) => (_request: unknown, response: ServerResponse) =>
        response.end(files.get(path));
      const routes: Record<string, HostileRoute> = {};
      for (const path of files.keys()) routes[path] = honest(path);
      routes["/timestamp.json"] = (request, response) => {
        if (!drip) return honest("/timestamp.json")(request, response);
        const timestamp = files.get("/timestamp.json")!;
        response.writeHead(200, { "content-type": "application/json" });
        let sent = 0;
        hostile.every(1000, () => {
          if (sent < timestamp.length) response.write(timestamp.subarray(sent, ++sent));
        });
      };
      const hostile = await startHostileServer(routes);
      try {
        await ok(["mirror", "set", hostile.url, "--silent"], home);
        drip = true;
        const result = await ferry(["install", "hello"], home, { timeoutMs: 120_000 });
        assert.equal(result.timedOut, false);
        assert.equal(result.code, 4, result.stderr);
        assert.match(result.stderr, /slower than/);
      } finally {
        await hostile.close();
      }
    },
  );
});
