/**
 * `ferry proxy` with containerd as the client: a containerd daemon of the test's own pulls with
 * `ctr images pull --hosts-dir` through a hosts.toml mirror entry that points at the proxy (so
 * containerd adds `?ns=<registry>` and resolves tags with HEAD), from the shared registry rig.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, test } from "node:test";
import { freePort, makeTempDir, type RunningFerry, startFerry } from "./_cli.ts";
import { type RunningContainerd, startContainerd } from "./_containerd.ts";
import { run, type RunningRig, startRig } from "./_registry_rig.ts";

const T = { timeout: 240_000 };
const READY = /Registry proxy at (http:\/\/\S+),/;
const DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json";

let temp: { dir: string; remove(): Promise<void> } | undefined;
let rig: RunningRig | undefined;
let proxy: RunningFerry | undefined;
let containerd: RunningContainerd | undefined;
let proxyUrl = "";
let started: Promise<void> | undefined;

/** Writes the proxy's config for an upstream at `upstreamUrl`; no default registry. */
async function writeConfig(name: string, upstreamUrl: string): Promise<string> {
  const path = nodePath.join(temp!.dir, name);
  await fs.writeFile(
    path,
    `registries:
  upstream.test: ${upstreamUrl}
cache: { tagTtl: 2s }
upstream: { timeout: 5s, retries: 0 }
`,
  );
  return path;
}

async function startProxy(configPath: string): Promise<void> {
  proxy = await startFerry([
    "proxy",
    "--listen",
    "127.0.0.1:0",
    "--config",
    configPath,
    "--cache-dir",
    nodePath.join(temp!.dir, "cache"),
    "--access-log",
    "on",
  ], { readyPattern: READY, readyTimeoutMs: 60_000 });
  proxyUrl = proxy.ready![1]!;
  // containerd reads hosts.toml on every pull: "upstream.test" is mirrored by the proxy.
  const hosts = nodePath.join(temp!.dir, "hosts", "upstream.test");
  await fs.mkdir(hosts, { recursive: true });
  await fs.writeFile(
    nodePath.join(hosts, "hosts.toml"),
    `server = "http://upstream.test"
[host."${proxyUrl}"]
  capabilities = ["pull", "resolve"]
`,
  );
}

/**
 * Starts the rig, the proxy and containerd once, from the first test that needs them (not in a
 * before() hook: Bun gives hooks 5 s whatever the options say, and the rig needs longer).
 */
function ready(): Promise<void> {
  started ??= (async () => {
    temp = await makeTempDir("ferry-e2e-ctr");
    rig = await startRig(nodePath.join(temp.dir, "rig"));
    // A repository whose first component names another registry in the proxy's table.
    await run("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${rig.env.RIG_UPSTREAM_HOST}/test/hello:v1`,
      `docker://${rig.env.RIG_UPSTREAM_HOST}/gcr.io/hello:v1`,
    ], 60_000);
    await startProxy(await writeConfig("proxy.yaml", rig.env.RIG_UPSTREAM_URL!));
    const daemon = nodePath.join(temp.dir, "containerd");
    await fs.mkdir(daemon);
    containerd = await startContainerd(daemon, { lifetimeMs: 600_000 });
  })();
  return started;
}

after(async () => {
  await containerd?.stop();
  await proxy?.stop();
  await rig?.stop();
  await temp?.remove();
});

/** ctr images pull through the proxy; returns the pulled image's digest. */
async function ctrPull(namespace: string, ref: string, extra: string[] = []): Promise<string> {
  await containerd!.ctr(namespace, [
    "images",
    "pull",
    "--snapshotter",
    "native",
    "--hosts-dir",
    nodePath.join(temp!.dir, "hosts"),
    ...extra,
    ref,
  ]);
  return await imageDigest(namespace, ref);
}

async function imageDigest(namespace: string, ref: string): Promise<string> {
  const out = await containerd!.ctr(namespace, ["images", "ls"]);
  const line = out.split("\n").find((l) => l.startsWith(`${ref} `));
  assert.ok(line, `ctr images ls has no ${ref}:\n${out}`);
  return line.split(/\s+/)[2]!;
}

/** Removes every image in every namespace and waits for the garbage collector: no blob is left. */
async function emptyContentStore(): Promise<void> {
  const namespaces = (await containerd!.ctr("default", ["namespaces", "ls", "-q"])).split("\n")
    .filter((n) => n !== "");
  for (const namespace of namespaces) {
    const images = (await containerd!.ctr(namespace, ["images", "ls", "-q"])).split("\n")
      .filter((i) => i !== "");
    if (images.length > 0) await containerd!.ctr(namespace, ["images", "rm", "--sync", ...images]);
  }
  for (const namespace of namespaces) {
    const left = (await containerd!.ctr(namespace, ["content", "ls", "-q"])).trim();
    assert.equal(left, "", `namespace ${namespace} still holds content`);
  }
}

/** containerd runs only as root: elsewhere the test is skipped (where the runner can say so). */
function skipUnlessRoot(t: { skip?: (message?: string) => void }): boolean {
  if (process.getuid?.() === 0) return false;
  t.skip?.("containerd needs root");
  return true;
}

test("ctr pull up.test/gcr.io/hello:v1 goes to the ns registry, not gcr.io", T, async (t) => {
  if (skipUnlessRoot(t)) return;
  await ready();
  const digest = await ctrPull("ns-route", "upstream.test/gcr.io/hello:v1");
  assert.equal(digest, rig!.digest("test/hello", "v1"));
});

test("a Docker-v2-only client does not decide what an arm64 ctr pull gets", T, async (t) => {
  if (skipUnlessRoot(t)) return;
  await ready();
  const list = rig!.digest("test/multi", "docker");
  const narrow = await fetch(`${proxyUrl}/v2/test/multi/manifests/docker?ns=upstream.test`, {
    headers: { accept: DOCKER_V2 },
  });
  assert.equal(narrow.status, 200);
  await narrow.arrayBuffer();
  const amd64 = narrow.headers.get("docker-content-digest");
  assert.notEqual(amd64, list, "the narrow client gets the upstream's amd64 manifest");
  assert.equal(
    await ctrPull("accept", "upstream.test/test/multi:docker", [
      "--platform",
      "linux/arm64",
    ]),
    list,
  );
  const content = await containerd!.ctr("accept", ["content", "ls", "-q"]);
  assert.ok(!content.includes(amd64!), "arm64 content only, not the amd64 manifest");
});

test("with the upstream down, ctr pulls a tag from the cache into an empty store", T, async (t) => {
  if (skipUnlessRoot(t)) return;
  await ready();
  const ref = "upstream.test/test/hello:v1-docker";
  const want = rig!.digest("test/hello", "v1-docker");
  assert.equal(await ctrPull("offline", ref), want);
  await emptyContentStore();

  // The same cache behind an upstream that refuses every connection.
  await proxy!.stop();
  await startProxy(await writeConfig("dead.yaml", `http://127.0.0.1:${await freePort()}`));
  await new Promise((resolve) => setTimeout(resolve, 2100)); // past the tag TTL: stale path
  assert.equal(await ctrPull("offline", ref), want);
  const log = proxy!.stdout() + proxy!.stderr();
  assert.match(log, /"HEAD \/v2\/test\/hello\/manifests\/v1-docker" 200/);
  assert.match(log, /Serving a cached tag answer/);
  assert.match(log, /"GET \/v2\/test\/hello\/blobs\/sha256:[0-9a-f]{64}" 200/);

  // And for good: the narrow client's earlier answer still decides nothing for containerd.
  const list = rig!.digest("test/multi", "docker");
  assert.equal(
    await ctrPull("offline", "upstream.test/test/multi:docker", ["--platform", "linux/arm64"]),
    list,
  );
});
