/**
 * `ferry mirror serve DIR --upstream URL` over a `ferry mirror clone --no-tarballs` clone, with
 * a counting (and, on request, tampering) upstream started inside the test, and ferry's client
 * installing through it: twenty concurrent installs of one version cause one upstream fetch; a
 * tampered upstream tarball is refused and not kept; with the upstream gone, what was kept still
 * installs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as nodePath from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTempDir, runFerry, type RunningFerry, startFerry } from "./_cli.ts";
import { HOST } from "./_walkthrough.ts";

const TIMEOUT = { timeout: 300_000 };
const [OS, ARCH] = HOST.split("-") as [string, string];

let temp: { dir: string; remove(): Promise<void> };
let env: Record<string, string | undefined>;
let source: string;
let clone: string;
let upstream: Server | undefined;
let upstreamUrl: string;
let server: RunningFerry | undefined;
let serverUrl: string;
/** GETs the upstream answered, by path. */
const fetches = new Map<string, number>();
/** Paths the upstream serves with one byte flipped. */
const tampered = new Set<string>();

async function ferry(args: string[], expectCode = 0, extraEnv: Record<string, string> = {}) {
  const result = await runFerry(args, {
    cwd: temp.dir,
    env: { ...env, ...extraEnv },
    timeoutMs: 240_000,
  });
  const what = `ferry ${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\n` +
    `stderr: ${result.stderr}`;
  // -1: any failure.
  if (expectCode === -1) assert.ok(result.code !== 0, what);
  else assert.equal(result.code, expectCode, what);
  return result;
}

/** A static mirror server over `source` that counts and can tamper. */
function startUpstream(): Promise<Server> {
  const http = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname).slice(1);
    if (path.includes("..") || path.startsWith("keys")) {
      response.writeHead(404).end();
      return;
    }
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(nodePath.join(source, path));
    } catch {
      response.writeHead(404).end();
      return;
    }
    if (request.method === "GET") fetches.set(path, (fetches.get(path) ?? 0) + 1);
    if (tampered.has(path)) bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    response.writeHead(200, { "content-length": String(bytes.length) });
    response.end(request.method === "HEAD" ? undefined : bytes);
  });
  return new Promise((resolve) => http.listen(0, "127.0.0.1", () => resolve(http)));
}

async function publish(version: string) {
  const dir = nodePath.join(temp.dir, `pkg-${version}`);
  await fs.mkdir(dir);
  await fs.writeFile(nodePath.join(dir, "hello"), `#!/bin/sh\necho hello ${version}\n`, {
    mode: 0o755,
  });
  const tarball = nodePath.join(temp.dir, `hello-${version}.tar.gz`);
  execFileSync("tar", ["-czf", tarball, "-C", dir, "hello"]);
  await ferry([
    "mirror",
    "publish",
    "hello",
    version,
    tarball,
    "hello",
    "--os",
    OS,
    "--arch",
    ARCH,
    "--mirror",
    source,
  ]);
}

before(async () => {
  temp = await makeTempDir("ferry-e2e-pull-through");
  env = {
    FERRY_HOME: nodePath.join(temp.dir, "home"),
    TIUP_HOME: undefined,
    FERRY_MIRROR: undefined,
    TIUP_MIRRORS: undefined,
  };
  source = nodePath.join(temp.dir, "source");
  clone = nodePath.join(temp.dir, "clone");
  await ferry(["mirror", "init", source]);
  await ferry(["mirror", "genkey"]);
  await ferry(["mirror", "grant", "jdoe", "--mirror", source]);
  await publish("v1.0.0");
  await publish("v1.1.0");
  upstream = await startUpstream();
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  await ferry([
    "mirror",
    "clone",
    clone,
    "--source",
    upstreamUrl,
    "--no-tarballs",
    "--skip-ferry-binary",
    "--hello",
    "v1.0.0,v1.1.0",
    "--os",
    OS,
    "--arch",
    ARCH,
  ]);
  server = await startFerry(
    [
      "mirror",
      "serve",
      clone,
      "--upstream",
      upstreamUrl,
      "--refresh-interval",
      "0",
      "--listen",
      "127.0.0.1:0",
      "--access-log",
      "off",
    ],
    { env, readyPattern: /Serving .* at (http\S+)/ },
  );
  serverUrl = server.ready![1]!;
});

after(async () => {
  await server?.stop();
  await new Promise((resolve) => upstream ? upstream.close(resolve) : resolve(undefined));
  await temp?.remove();
});

/** `ferry install` in a profile of its own, through the pull-through server. */
function install(spec: string, name: string, expectCode = 0) {
  return ferry(["install", spec], expectCode, {
    FERRY_HOME: nodePath.join(temp.dir, "homes", name),
    FERRY_MIRROR: serverUrl,
  });
}

describe("ferry mirror serve --upstream (pull-through)", () => {
  it("the --no-tarballs clone lists the versions but holds no tarball", async () => {
    const files = await fs.readdir(clone);
    assert.deepEqual(files.filter((f) => f.endsWith(".tar.gz")), []);
    const snapshot = JSON.parse(await fs.readFile(nodePath.join(clone, "snapshot.json"), "utf8"));
    const version = snapshot.signed.meta["/hello.json"].version;
    const manifest = JSON.parse(
      await fs.readFile(nodePath.join(clone, `${version}.hello.json`), "utf8"),
    );
    assert.deepEqual(Object.keys(manifest.signed.platforms[`${OS}/${ARCH}`]).sort(), [
      "v1.0.0",
      "v1.1.0",
    ]);
  });

  it(
    "serves twenty concurrent installs of one version with one upstream fetch",
    TIMEOUT,
    async () => {
      const tarball = `hello-v1.0.0-${HOST}.tar.gz`;
      await Promise.all(Array.from({ length: 20 }, (_, i) => install("hello:v1.0.0", `c${i}`)));
      assert.equal(fetches.get(tarball), 1);
      assert.deepEqual(
        await fs.readFile(nodePath.join(clone, tarball)),
        await fs.readFile(nodePath.join(source, tarball)),
      );
    },
  );

  it("refuses a tampered upstream tarball and keeps nothing", TIMEOUT, async () => {
    const tarball = `hello-v1.1.0-${HOST}.tar.gz`;
    tampered.add(tarball);
    await install("hello:v1.1.0", "tampered", -1);
    await assert.rejects(fs.stat(nodePath.join(clone, tarball)));
    assert.match(server!.stdout() + server!.stderr(), /Not keeping hello-v1\.1\.0/);
  });

  it("installs what it kept once the upstream is gone", TIMEOUT, async () => {
    await new Promise((resolve) => upstream!.close(resolve));
    upstream = undefined;
    await install("hello:v1.0.0", "offline");
    await install("hello:v1.1.0", "offline-missing", -1);
  });
});
