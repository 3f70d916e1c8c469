/**
 * `ferry proxy` against real registries: the project's rig (CNCF Distribution with token, Basic,
 * redirecting and plain instances) as upstream and skopeo as the client, as in seed 004.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, test } from "node:test";
import { makeTempDir, type RunningFerry, startFerry } from "./_cli.ts";
import { run, type RunningRig, startRig } from "./_registry_rig.ts";

const T = { timeout: 240_000 };
const READY = /Registry proxy at (http:\/\/\S+),/;

let temp: { dir: string; remove(): Promise<void> } | undefined;
let rig: RunningRig;
let proxy: RunningFerry | undefined;
let proxyHost = "";
let cacheDir = "";
let pulls = 0;
let started: Promise<void> | undefined;

/**
 * Starts the rig and the proxy once, from the first test that needs them (not in a before()
 * hook: Bun gives hooks 5 s whatever the options say, and the rig needs longer to seed).
 */
function ready(): Promise<void> {
  started ??= (async () => {
    temp = await makeTempDir("ferry-e2e-proxy");
    rig = await startRig(nodePath.join(temp.dir, "rig"));
    const basePort = rig.basePort;
    const p = (offset: number) => `http://127.0.0.1:${basePort + offset}`;
    const configPath = nodePath.join(temp.dir, "proxy.yaml");
    await fs.writeFile(
      configPath,
      `# the rig's registries under names an image reference can carry (no ports in a path)
defaultRegistry: upstream.test
registries:
  upstream.test: ${p(0)}
  basic.test: { url: "${p(1)}", username: ${rig.env.RIG_USER}, password: ${rig.env.RIG_PASS} }
  token.test: ${p(2)}
  # the token server is another origin: the credentials may go there only because it is named
  token-creds.test:
    url: "${p(2)}"
    username: ${rig.env.RIG_USER}
    password: ${rig.env.RIG_PASS}
    tokenRealms: ["${rig.env.RIG_TOKEN_REALM}"]
  redirect.test: ${p(7)}
  tls.test: { url: "https://127.0.0.1:${basePort + 6}", ca: "${rig.env.RIG_TLS_CA}" }
aliases:
  localhost: upstream.test
cache: { tagTtl: 2s }
upstream: { timeout: 10s, retries: 1 }
`,
    );
    cacheDir = nodePath.join(temp.dir, "cache");
    proxy = await startFerry(
      ["proxy", "--listen", "127.0.0.1:0", "--config", configPath, "--cache-dir", cacheDir],
      { readyPattern: READY, readyTimeoutMs: 60_000 },
    );
    proxyHost = proxy.ready![1]!.replace("http://", "");
  })();
  return started;
}

async function cleanUp(): Promise<void> {
  await proxy?.stop();
  proxy = undefined;
  await rig?.stop();
  await temp?.remove();
  temp = undefined;
}

after(cleanUp);

/** skopeo copy --all docker://<host>/<ref> dir:<fresh dir>; returns the dir. */
async function pull(ref: string, extra: string[] = [], host = proxyHost): Promise<string> {
  const out = nodePath.join(temp!.dir, `pull-${++pulls}`);
  await run("skopeo", [
    "copy",
    "--all",
    "--quiet",
    "--src-tls-verify=false",
    ...extra,
    `docker://${host}/${ref}`,
    `dir:${out}`,
  ], 180_000);
  return out;
}

/** The digest of the pulled top-level manifest, after checking every file against its name. */
async function pulledDigest(dir: string): Promise<string> {
  for (const name of await fs.readdir(dir)) {
    if (name === "manifest.json" || name === "version") continue;
    const hex = name.replace(/\.manifest\.json$/, "");
    const actual = sha256Hex(await fs.readFile(nodePath.join(dir, name)));
    assert.equal(actual, hex, `${dir}/${name} does not match its digest`);
  }
  return `sha256:${sha256Hex(await fs.readFile(nodePath.join(dir, "manifest.json")))}`;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function upstreamBlobGets(instance: string, digest: string): Promise<number> {
  const lines = await rig.log(instance);
  return lines.filter((l) => l.includes(`"GET /v2/`) && l.includes(`/blobs/${digest} `)).length;
}

async function metric(name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`http://${proxyHost}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      if (labels === "" || line.includes(labels)) total += Number(line.split(" ").at(-1));
    }
  }
  return total;
}

test(
  "twenty concurrent cold pulls of the big image cause one upstream download per blob",
  T,
  async () => {
    await ready();
    const before = await upstreamBlobGets("upstream", rig.bigLayer.digest);
    const dirs = await Promise.all(
      Array.from({ length: 20 }, () => pull("upstream.test/test/big:latest")),
    );
    for (const dir of dirs) assert.equal(await pulledDigest(dir), rig.digest("test/big", "latest"));
    assert.equal(await upstreamBlobGets("upstream", rig.bigLayer.digest) - before, 1);
    for (const dir of dirs) await fs.rm(dir, { recursive: true });
  },
);

test(
  "pulls through a redirecting upstream (blobs fetched from the CDN-like server)",
  T,
  async () => {
    await ready();
    const dir = await pull("redirect.test/test/multi:docker");
    assert.equal(await pulledDigest(dir), rig.digest("test/multi", "docker"));
    const blobsrv = (await rig.log("blobsrv")).filter((l) => l.includes('"method":"GET"'));
    assert.ok(blobsrv.length >= 2, "the blob server sent the layers");
  },
);

test("prefix mode pulls an OCI image with the upstream's digest", T, async () => {
  await ready();
  const dir = await pull("upstream.test/test/hello:v1");
  assert.equal(await pulledDigest(dir), rig.digest("test/hello", "v1"));
});

test("prefix mode pulls a nested repository", T, async () => {
  await ready();
  const dir = await pull("upstream.test/test/nested/deep/hello:v1");
  assert.equal(await pulledDigest(dir), rig.digest("test/nested/deep/hello", "v1"));
});

test("alias mode picks the registry from the Host header", T, async () => {
  await ready();
  const port = proxyHost.split(":")[1];
  const dir = await pull("test/hello:v1-docker", [], `localhost:${port}`);
  assert.equal(await pulledDigest(dir), rig.digest("test/hello", "v1-docker"));
});

test("Docker Hub mirror mode adds library/ to a one-segment name", T, async () => {
  await ready();
  const dir = await pull("hello:latest");
  assert.equal(await pulledDigest(dir), rig.digest("library/hello", "latest"));
});

test("a multi-arch OCI index pulls with --all, every platform included", T, async () => {
  await ready();
  const dir = await pull("upstream.test/test/multi:latest");
  assert.equal(await pulledDigest(dir), rig.digest("test/multi", "latest"));
  const index = JSON.parse(await fs.readFile(nodePath.join(dir, "manifest.json"), "utf8"));
  assert.equal(index.manifests.length, 2);
  for (const child of index.manifests) {
    const hex = child.digest.replace("sha256:", "");
    await fs.access(nodePath.join(dir, `${hex}.manifest.json`));
  }
});

test("a digest-pinned pull", T, async () => {
  await ready();
  const digest = rig.digest("test/multi", "docker");
  const dir = await pull(`upstream.test/test/multi@${digest}`);
  assert.equal(await pulledDigest(dir), digest);
});

test("the token-auth upstream, anonymously and with configured credentials", T, async () => {
  await ready();
  const anonymous = await pull("token.test/test/multi:latest");
  assert.equal(await pulledDigest(anonymous), rig.digest("test/multi", "latest"));
  // private/* needs the configured user; the client sends no credentials at all
  const privateDir = await pull("token-creds.test/private/hello:v1");
  assert.equal(await pulledDigest(privateDir), rig.digest("private/hello", "v1"));
  await assert.rejects(pull("token.test/private/hello:v1"), "anonymous may not pull private/*");
});

test("an HTTPS upstream with a private CA named in the config", T, async () => {
  await ready();
  const dir = await pull("tls.test/test/hello:v1");
  assert.equal(await pulledDigest(dir), rig.digest("test/hello", "v1"));
});

test("the Basic-auth upstream", T, async () => {
  await ready();
  const dir = await pull("basic.test/test/hello:v1-docker");
  assert.equal(await pulledDigest(dir), rig.digest("test/hello", "v1-docker"));
});

test("tags/list keeps the prefix and errors are OCI JSON", T, async () => {
  await ready();
  const tags = await fetch(`http://${proxyHost}/v2/upstream.test/test/hello/tags/list`);
  assert.deepEqual((await tags.json()).tags.sort(), ["v1", "v1-docker"]);
  const unknown = await fetch(`http://${proxyHost}/v2/coredns/coredns/manifests/v1.8.6`, {
    headers: { host: "cr.example" },
  });
  // default registry upstream.test has no coredns: MANIFEST_UNKNOWN/NAME_UNKNOWN, never DENIED
  assert.equal(unknown.status, 404);
  const refused = await fetch(`http://${proxyHost}/v2/quay.invalid/x/manifests/latest`);
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).errors[0].code, "DENIED");
});

test("a corrupted upstream blob is rejected and not cached", T, async () => {
  await ready();
  const up = rig.env.RIG_UPSTREAM_URL!;
  const repo = `corrupt/img${randomBytes(3).toString("hex")}`;
  const layer = randomBytes(200_000);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux" }));
  const layerDigest = `sha256:${sha256Hex(layer)}`;
  const configDigest = `sha256:${sha256Hex(config)}`;
  for (const [bytes, digest] of [[layer, layerDigest], [config, configDigest]] as const) {
    const start = await fetch(`${up}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get("location")!, up);
    location.searchParams.set("digest", digest);
    const put = await fetch(location, { method: "PUT", body: new Uint8Array(bytes) });
    assert.equal(put.status, 201, await put.text());
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: configDigest,
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: layerDigest,
      size: layer.length,
    }],
  });
  const putManifest = await fetch(`${up}/v2/${repo}/manifests/v1`, {
    method: "PUT",
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    body: manifest,
  });
  assert.equal(putManifest.status, 201);
  // Same length, different bytes, on the upstream's disk: Distribution serves them as they are.
  const hex = layerDigest.slice(7);
  const stored = nodePath.join(
    rig.stateDir,
    "data/upstream/docker/registry/v2/blobs/sha256",
    hex.slice(0, 2),
    hex,
    "data",
  );
  const bad = Buffer.from(layer);
  bad[1000] = bad[1000]! ^ 0xff;
  await fs.writeFile(stored, bad);

  await assert.rejects(pull(`upstream.test/${repo}:v1`));
  await assert.rejects(pull(`upstream.test/${repo}:v1`));
  const cached = nodePath.join(cacheDir, "blobs/sha256", hex.slice(0, 2), hex);
  await assert.rejects(fs.access(cached), "the bad blob is not in the cache");
  assert.equal(await upstreamBlobGets("upstream", layerDigest), 2, "asked the upstream each time");
  assert.ok(await metric("ferry_proxy_blobs_rejected_total") >= 2);
});

test("with the upstream gone, cached images are still served (air gap)", T, async () => {
  await ready();
  await rig.stop();
  await new Promise((resolve) => setTimeout(resolve, 2500)); // past the 2 s tag TTL
  for (
    const [ref, repo, tag] of [
      ["upstream.test/test/hello:v1", "test/hello", "v1"],
      ["upstream.test/test/multi:latest", "test/multi", "latest"],
      ["hello:latest", "library/hello", "latest"],
      ["upstream.test/test/big:latest", "test/big", "latest"],
      ["token-creds.test/private/hello:v1", "private/hello", "v1"],
    ] as const
  ) {
    const dir = await pull(ref);
    assert.equal(await pulledDigest(dir), rig.digest(repo, tag), ref);
  }
  assert.ok(await metric("ferry_proxy_stale_served_total") >= 5);
  await assert.rejects(pull("upstream.test/test/hello:never-pulled"));
  // The tags were listed once while the upstream was up (the tags/list test): still listable.
  const listed = await run("skopeo", [
    "list-tags",
    "--tls-verify=false",
    `docker://${proxyHost}/upstream.test/test/hello`,
  ], 60_000);
  assert.deepEqual(JSON.parse(listed.stdout).Tags.sort(), ["v1", "v1-docker"]);
});

test("the proxy stops cleanly on SIGTERM", T, async () => {
  await ready();
  const exit = await proxy!.stop();
  assert.equal(exit.code, 0);
  await cleanUp();
});
