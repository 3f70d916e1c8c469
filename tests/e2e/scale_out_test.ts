/**
 * The README's "Scale out" example, as written: its nginx config (read from README.md; only the
 * replicas' addresses and the listen ports are replaced by loopback ones) in front of two
 * `ferry mirror serve s3://…` replicas and three `ferry proxy --cache-dir s3://…` replicas on the
 * rig's Ceph bucket, with the registry rig's Distribution as the proxies' upstream. A client
 * installs through nginx (a large tarball by the replica's 307 to the bucket) and skopeo pulls
 * through it; then one replica of each kind is killed with SIGKILL and both keep working.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { S3_SKIP, s3Rig, stopS3Rig } from "../storage/_s3_rig.ts";
import { freePort, makeTempDir, runFerryExpecting, type RunningFerry, startFerry } from "./_cli.ts";
import { run, type RunningRig, startRig } from "./_registry_rig.ts";

const T = { timeout: 300_000 };
const README = fileURLToPath(new URL("../../README.md", import.meta.url));
const ARCH = process.arch === "arm64" ? "arm64" : "amd64";

let temp: { dir: string; remove(): Promise<void> } | undefined;
let registry: RunningRig | undefined;
let env: Record<string, string | undefined> = {};
const mirrorReplicas: RunningFerry[] = [];
const proxyReplicas: RunningFerry[] = [];
let nginx: ChildProcess | undefined;
/** nginx's two fronts: the mirror (README: `listen 80`) and the proxy (`listen 5000`). */
const front = { mirror: "", proxy: "" };
let started: Promise<void> | undefined;

function ferry(args: string[], home: string, expectCode = 0) {
  return runFerryExpecting(args, expectCode, {
    cwd: temp!.dir,
    env: { ...env, FERRY_HOME: nodePath.join(temp!.dir, home) },
    timeoutMs: 180_000,
  });
}

/** A tarball whose entry `hello` prints `version`, with `padding` random bytes beside it. */
async function helloTarball(version: string, padding: number): Promise<string> {
  const pkg = nodePath.join(temp!.dir, `pkg-${version}`);
  await fs.mkdir(pkg);
  await fs.writeFile(nodePath.join(pkg, "hello"), `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
  await fs.writeFile(nodePath.join(pkg, "payload.bin"), randomBytes(padding));
  const tarball = nodePath.join(temp!.dir, `hello-${version}.tar.gz`);
  await fs.writeFile(
    tarball,
    await collectBytes(await packTarball(["hello", "payload.bin"], { cwd: pkg })),
  );
  return tarball;
}

/**
 * The README's nginx block, pointed at this test's replicas: `server 10.0.0.1N:PORT` lines in
 * order become the replicas' loopback addresses, `listen 80`/`listen 5000` free loopback ports.
 */
async function readmeNginxConfig(): Promise<string> {
  const readme = await fs.readFile(README, "utf8");
  const section = readme.slice(readme.indexOf("### Scale out"));
  const block = /```nginx\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, "README's Scale out section has an nginx block");
  const mirrors = mirrorReplicas.map(address);
  const proxies = proxyReplicas.map(address);
  let config = block.replace(/server 10\.0\.0\.\d+:(8080|5000)/g, (_, port: string) => {
    const next = port === "8080" ? mirrors.shift() : proxies.shift();
    assert.ok(next, `the README names more :${port} replicas than the test started`);
    return `server ${next}`;
  });
  assert.deepEqual([mirrors.length, proxies.length], [0, 0], "every replica is in the config");
  front.mirror = `127.0.0.1:${await freePort()}`;
  front.proxy = `127.0.0.1:${await freePort()}`;
  config = config.replace(/listen 80;/, `listen ${front.mirror};`)
    .replace(/listen 5000;/, `listen ${front.proxy};`);
  assert.ok(!/listen (80|5000);/.test(config), config);
  return config;
}

function address(replica: RunningFerry): string {
  return replica.ready![1]!.replace(/^https?:\/\//, "");
}

async function startNginx(): Promise<void> {
  const dir = nodePath.join(temp!.dir, "nginx");
  await fs.mkdir(nodePath.join(dir, "tmp"), { recursive: true });
  const temps = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `  ${kind}_temp_path ${dir}/tmp/${kind};`).join("\n");
  const conf = nodePath.join(dir, "nginx.conf");
  await fs.writeFile(
    conf,
    [
      process.getuid?.() === 0 ? "user root;" : "",
      "worker_processes 1;",
      "daemon off;",
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      "events { worker_connections 1024; }",
      "http {",
      "  access_log off;",
      temps,
      await readmeNginxConfig(),
      "}",
      "",
    ].join("\n"),
  );
  const binary = await run("sh", ["-c", "command -v nginx || echo /usr/sbin/nginx"], 10_000);
  nginx = spawn(binary.stdout.trim(), ["-p", dir, "-c", conf], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://${front.mirror}/timestamp.json`).then((r) => r.ok, () => false);
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nginx did not answer: ${await fs.readFile(`${dir}/error.log`, "utf8")}`);
}

/** The rigs, a mirror in the bucket with hello v1 and v2, the five replicas and nginx. */
function ready(): Promise<void> {
  started ??= (async () => {
    const s3 = await s3Rig();
    temp = await makeTempDir("ferry-e2e-scale-out");
    registry = await startRig(nodePath.join(temp.dir, "rig"));
    env = {
      ...s3.env,
      HOME: temp.dir,
      AWS_PROFILE: undefined,
      FERRY_MIRROR: "",
      TIUP_MIRRORS: "",
      TIUP_HOME: undefined,
    };
    const prefix = `scale-${randomBytes(4).toString("hex")}`;
    const mirror = `s3://${s3.bucket}/${prefix}/mirror`;
    await ferry(["mirror", "init", mirror], "writer");
    await ferry(["mirror", "genkey"], "writer");
    await ferry(["mirror", "grant", "jdoe", "--mirror", mirror], "writer");
    // v2 is above the replicas' --redirect-large 1MiB: it comes from the bucket by a 307.
    for (const [version, padding] of [["v1", 1024], ["v2", 2 * 1024 * 1024]] as const) {
      const tarball = await helloTarball(version, padding);
      const platform = ["--os", "linux", "--arch", ARCH, "--mirror", mirror];
      await ferry(["mirror", "publish", "hello", version, tarball, "hello", ...platform], "writer");
    }
    const home = { ...env, FERRY_HOME: nodePath.join(temp.dir, "server") };
    for (let i = 0; i < 2; i++) {
      mirrorReplicas.push(
        await startFerry(
          ["mirror", "serve", mirror, "--listen", "127.0.0.1:0", "--redirect-large", "1MiB"],
          { env: home, readyPattern: /Serving .* at (https?:\/\/\S+)/ },
        ),
      );
    }
    const config = nodePath.join(temp.dir, "proxy.yaml");
    await fs.writeFile(
      config,
      `registries:\n  upstream.test: http://127.0.0.1:${registry.basePort}\n`,
    );
    for (let i = 0; i < 3; i++) {
      proxyReplicas.push(
        await startFerry(
          [
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--config",
            config,
            "--cache-dir",
            `s3://${s3.bucket}/${prefix}/proxy`,
          ],
          { env: home, readyPattern: /Registry proxy at (http:\/\/\S+),/, readyTimeoutMs: 60_000 },
        ),
      );
    }
    await startNginx();
  })();
  return started;
}

after(async () => {
  if (nginx?.pid !== undefined && nginx.exitCode === null) {
    const exited = new Promise((resolve) => nginx!.once("exit", resolve));
    nginx.kill("SIGTERM");
    await exited;
  }
  for (const replica of [...mirrorReplicas, ...proxyReplicas]) await replica.stop();
  await registry?.stop();
  await stopS3Rig();
  await temp?.remove();
});

/** skopeo copy through nginx's proxy front; the pulled manifest's digest, every file checked. */
async function pullThroughFront(ref: string): Promise<string> {
  const out = nodePath.join(temp!.dir, `pull-${randomBytes(4).toString("hex")}`);
  await run("skopeo", [
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    `docker://${front.proxy}/upstream.test/${ref}`,
    `dir:${out}`,
  ], 240_000);
  for (const name of await fs.readdir(out)) {
    if (name === "manifest.json" || name === "version") continue;
    assert.equal(sha256Hex(await fs.readFile(nodePath.join(out, name))), name, `${out}/${name}`);
  }
  return `sha256:${sha256Hex(await fs.readFile(nodePath.join(out, "manifest.json")))}`;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** `ferry mirror set` the nginx front in a fresh profile, install hello VERSION, run it. */
async function installThroughFront(version: string, home: string): Promise<string> {
  await ferry(["mirror", "set", `http://${front.mirror}`, "--silent"], home);
  await ferry(["install", `hello:${version}`], home);
  return (await ferry([`hello:${version}`], home)).stdout.trim();
}

if (S3_SKIP) {
  test("the README's scale-out example", { skip: S3_SKIP }, () => {});
} else {
  test("the README's scale-out example: ferry installs through nginx", T, async () => {
    await ready();
    assert.equal(await installThroughFront("v1", "client-1"), "v1");
    // v2's tarball is answered by a replica's 307 to the bucket, which nginx passes through.
    const answer = await fetch(`http://${front.mirror}/hello-v2-linux-${ARCH}.tar.gz`, {
      redirect: "manual",
    });
    await answer.body?.cancel();
    assert.equal(answer.status, 307);
    assert.equal(await installThroughFront("v2", "client-1"), "v2");
  });

  test("the README's scale-out example: skopeo pulls through nginx", T, async () => {
    await ready();
    const image = registry!.images.find((i) => !/index|list/.test(i.mediaType))!;
    assert.equal(await pullThroughFront(`${image.repo}:${image.tag}`), image.digest);
  });

  test(
    "the README's scale-out example: one replica of each killed, both keep working",
    T,
    async () => {
      await ready();
      process.kill(mirrorReplicas[0]!.pid, "SIGKILL");
      process.kill(proxyReplicas[0]!.pid, "SIGKILL");
      await mirrorReplicas[0]!.exited;
      await proxyReplicas[0]!.exited;
      // Fresh clients, so every answer comes through the surviving replicas.
      assert.equal(await installThroughFront("v1", "client-2"), "v1");
      assert.equal(await installThroughFront("v2", "client-2"), "v2");
      for (const image of registry!.images.filter((i) => !/index|list/.test(i.mediaType))) {
        assert.equal(await pullThroughFront(`${image.repo}:${image.tag}`), image.digest);
      }
    },
  );
}
