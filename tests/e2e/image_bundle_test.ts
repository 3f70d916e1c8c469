/**
 * `ferry image save`, `ferry image verify` and `ferry mirror serve` of an image bundle, against
 * the project's registry rig (plain, token-auth and TLS instances of CNCF Distribution) with
 * real clients: skopeo reads the OCI layout directly and pulls from the served bundle, a
 * containerd of the test's own pulls through a hosts.toml mirror entry, and an isolated podman
 * pulls by the bundle's names and through a registries.conf mirror entry. One directory is both
 * a TiUP mirror (with a published component) and the image bundle.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, test } from "node:test";
import { makeTarball } from "../_simulator.ts";
import {
  ferryCommand,
  freePort,
  makeTempDir,
  runFerry,
  runFerryExpecting,
  type RunningFerry,
  startFerry,
} from "./_cli.ts";
import { seededRandom, verifyMirrorDir } from "./_clone_fixtures.ts";
import { type RunningContainerd, startContainerd } from "./_containerd.ts";
import { makeIsolatedPodman } from "./_podman.ts";
import { pushBlob, pushManifest, pushReferrer } from "./_push_artifact.ts";
import { run, type RunningRig, startRig } from "./_registry_rig.ts";

const T = { timeout: 300_000 };
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const ACCEPT_ALL = [
  OCI_MANIFEST,
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

let temp: { dir: string; remove(): Promise<void> } | undefined;
let rig: RunningRig;
let configPath = "";
let bundle = "";
let env: Record<string, string> = {};
let server: RunningFerry | undefined;
let serverHost = "";
let containerd: RunningContainerd | undefined;
let referrer = "";
let sigTag = "";
let pulls = 0;
let started: Promise<void> | undefined;

/** The images of the suite: a multi-arch OCI index, a Docker manifest list, a single-arch one. */
const IMAGES = [
  { ref: "upstream.test/test/multi:latest", repo: "test/multi", tag: "latest" },
  { ref: "token.test/test/multi:docker", repo: "test/multi", tag: "docker" },
  { ref: "tls.test/test/hello:v1", repo: "test/hello", tag: "v1" },
  { ref: "upstream.test/test/hello:v1", repo: "test/hello", tag: "v1" },
];

function ferry(args: string[], code = 0) {
  return runFerryExpecting(args, code, { env, timeoutMs: 240_000 });
}

/**
 * Starts the rig, makes the bundle (a TiUP mirror with a published component, then the images
 * saved into it) and serves it, once, from the first test (Bun's hooks ignore long timeouts).
 */
function ready(): Promise<void> {
  started ??= (async () => {
    temp = await makeTempDir("ferry-e2e-image");
    rig = await startRig(nodePath.join(temp.dir, "rig"));
    const basePort = rig.basePort;
    const p = (offset: number) => `http://127.0.0.1:${basePort + offset}`;
    configPath = nodePath.join(temp.dir, "registries.yaml");
    await fs.writeFile(
      configPath,
      `registries:
  upstream.test: ${p(0)}
  token.test: ${p(2)}
  tls.test: { url: "https://127.0.0.1:${basePort + 6}", ca: "${rig.env.RIG_TLS_CA}" }
`,
    );
    // A cosign-style signature tag and an OCI 1.1 referrer of test/hello:v1.
    const hello = rig.digest("test/hello", "v1");
    sigTag = `sha256-${hello.slice("sha256:".length)}.sig`;
    await run("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${rig.env.RIG_UPSTREAM_HOST}/test/hello:v1-docker`,
      `docker://${rig.env.RIG_UPSTREAM_HOST}/test/hello:${sigTag}`,
    ], 60_000);
    const size = rig.images.find((i) => i.digest === hello)!.size;
    referrer = await pushReferrer(
      rig.env.RIG_UPSTREAM_URL!,
      "test/hello",
      {
        digest: hello,
        size,
        mediaType: OCI_MANIFEST,
      },
      "application/vnd.example.sbom",
      "an sbom of hello",
    );

    env = { FERRY_HOME: nodePath.join(temp.dir, "home"), FERRY_MIRROR: "", TIUP_MIRRORS: "" };
    bundle = nodePath.join(temp.dir, "bundle");
    await fs.writeFile(nodePath.join(temp.dir, "hello.tar.gz"), await makeTarball("hello", "hi"));
    await ferry(["mirror", "init", bundle]);
    await ferry(["mirror", "genkey"]);
    await ferry(["mirror", "grant", "jdoe", "--mirror", bundle]);
    await runFerryExpecting(
      [
        "mirror",
        "publish",
        "hello",
        "v1.0.0",
        "hello.tar.gz",
        "hello",
        "--os",
        process.platform === "darwin" ? "darwin" : "linux",
        "--arch",
        process.arch === "arm64" ? "arm64" : "amd64",
        "--mirror",
        bundle,
      ],
      0,
      { env, cwd: temp.dir, timeoutMs: 120_000 },
    );
    await ferry([
      "image",
      "save",
      ...IMAGES.map((i) => i.ref),
      // One by digest alone: index.json names it REGISTRY/REPO@DIGEST.
      `upstream.test/test/hello@${rig.digest("test/hello", "v1")}`,
      "-o",
      bundle,
      "--config",
      configPath,
    ]);

    const port = await freePort();
    server = await startFerry([
      "mirror",
      "serve",
      bundle,
      "--listen",
      `127.0.0.1:${port}`,
      "--access-log",
      "off",
      "--default-registry",
      "upstream.test",
    ], { readyPattern: /Serving .* at /, env });
    serverHost = `127.0.0.1:${port}`;
  })();
  return started;
}

after(async () => {
  await containerd?.stop();
  await server?.stop();
  await rig?.stop();
  await temp?.remove();
});

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** skopeo copy --all SOURCE dir:<fresh dir>; returns the digest of the top manifest. */
async function skopeoDigest(source: string, extra: string[] = []): Promise<string> {
  const out = nodePath.join(temp!.dir, `pull-${++pulls}`);
  await run(
    "skopeo",
    ["copy", "--all", "--quiet", "--src-tls-verify=false", ...extra, source, `dir:${out}`],
    180_000,
  );
  for (const name of await fs.readdir(out)) {
    if (name === "manifest.json" || name === "version") continue;
    const hex = name.replace(/\.manifest\.json$/, "");
    assert.equal(sha256Hex(await fs.readFile(nodePath.join(out, name))), hex, `${out}/${name}`);
  }
  const digest = `sha256:${sha256Hex(await fs.readFile(nodePath.join(out, "manifest.json")))}`;
  await fs.rm(out, { recursive: true });
  return digest;
}

/**
 * What a reader of the layout may see at any moment: every blob (not a temp dotfile) hashes
 * to its name, and whatever index.json names is there.
 */
async function assertNothingUnverified(dir: string): Promise<void> {
  const blobs = nodePath.join(dir, "blobs", "sha256");
  for (const name of await fs.readdir(blobs).catch(() => [] as string[])) {
    if (name.startsWith(".")) continue;
    assert.equal(sha256Hex(await fs.readFile(nodePath.join(blobs, name))), name, `blob ${name}`);
  }
  const index = await fs.readFile(nodePath.join(dir, "index.json"), "utf8").catch(() => undefined);
  if (index === undefined) return;
  for (const entry of JSON.parse(index).manifests) {
    await fs.access(nodePath.join(blobs, entry.digest.slice("sha256:".length)));
  }
}

test(
  "image save stores an OCI index, a Docker list and a single image with upstream digests",
  T,
  async () => {
    await ready();
    const index = JSON.parse(await fs.readFile(nodePath.join(bundle, "index.json"), "utf8"));
    const named = new Map<string, string>(
      index.manifests.map((
        m: { digest: string; annotations: Record<string, string> },
      ) => [m.annotations["org.opencontainers.image.ref.name"], m.digest]),
    );
    for (const image of IMAGES) {
      assert.equal(named.get(image.ref), rig.digest(image.repo, image.tag), image.ref);
    }
    await assertNothingUnverified(bundle);
    // Every platform of both multi-arch images is there, byte for byte.
    for (const ref of ["upstream.test/test/multi:latest", "token.test/test/multi:docker"]) {
      const top = JSON.parse(
        await fs.readFile(
          nodePath.join(bundle, "blobs", "sha256", named.get(ref)!.slice(7)),
          "utf8",
        ),
      );
      assert.equal(top.manifests.length, 2);
      for (const child of top.manifests) {
        await fs.access(nodePath.join(bundle, "blobs", "sha256", child.digest.slice(7)));
      }
    }
    const verify = await ferry(["image", "verify", bundle]);
    assert.match(verify.stdout, /OK: no problems found/);
  },
);

test(
  "skopeo copy oci:DIR:NAME reads the layout directly with the upstream's digests",
  T,
  async () => {
    await ready();
    for (const image of IMAGES.filter((i) => i.tag !== "docker")) {
      assert.equal(
        await skopeoDigest(`oci:${bundle}:${image.ref}`),
        rig.digest(image.repo, image.tag),
        image.ref,
      );
    }
    const hello = rig.digest("test/hello", "v1");
    assert.equal(await skopeoDigest(`oci:${bundle}:upstream.test/test/hello@${hello}`), hello);
  },
);

test("skopeo pulls every image from ferry mirror serve DIR with equal digests", T, async () => {
  await ready();
  for (const image of IMAGES) {
    assert.equal(
      await skopeoDigest(`docker://${serverHost}/${image.ref}`),
      rig.digest(image.repo, image.tag),
      image.ref,
    );
  }
  // --default-registry upstream.test: a registry-mirrors style name works unchanged.
  assert.equal(
    await skopeoDigest(`docker://${serverHost}/test/multi:latest`),
    rig.digest("test/multi", "latest"),
  );
});

test(
  "ctr pulls from the served bundle through a hosts.toml mirror with equal digests",
  T,
  async () => {
    await ready();
    const daemon = nodePath.join(temp!.dir, "containerd");
    await fs.mkdir(daemon, { recursive: true });
    containerd ??= await startContainerd(daemon, { lifetimeMs: 600_000 });
    for (const registry of ["upstream.test", "token.test"]) {
      const hosts = nodePath.join(temp!.dir, "hosts", registry);
      await fs.mkdir(hosts, { recursive: true });
      await fs.writeFile(
        nodePath.join(hosts, "hosts.toml"),
        `server = "http://${registry}"\n[host."http://${serverHost}"]\n  capabilities = ["pull", "resolve"]\n`,
      );
    }
    for (const image of IMAGES.filter((i) => !i.ref.startsWith("tls."))) {
      await containerd.ctr("bundle", [
        "images",
        "pull",
        "--snapshotter",
        "native",
        "--all-platforms",
        "--hosts-dir",
        nodePath.join(temp!.dir, "hosts"),
        image.ref,
      ]);
      const listed = await containerd.ctr("bundle", ["images", "ls"]);
      const line = listed.split("\n").find((l) => l.startsWith(`${image.ref} `));
      assert.ok(line, `ctr images ls has no ${image.ref}:\n${listed}`);
      assert.equal(line.split(/\s+/)[2], rig.digest(image.repo, image.tag), image.ref);
    }
  },
);

/**
 * The upstream's digest of the linux/amd64 config of repo:tag (from the plain instance, which
 * shares its storage with the others): what podman's image ID must be.
 */
async function upstreamAmd64ConfigDigest(repo: string, tag: string): Promise<string> {
  const get = async (reference: string) => {
    const response = await fetch(`${rig.env.RIG_UPSTREAM_URL}/v2/${repo}/manifests/${reference}`, {
      headers: { accept: ACCEPT_ALL },
    });
    assert.equal(response.status, 200, `${repo}:${reference}`);
    return await response.json();
  };
  let manifest = await get(tag);
  if (manifest.manifests) {
    const child = manifest.manifests.find((m: { platform: { os: string; architecture: string } }) =>
      m.platform.os === "linux" && m.platform.architecture === "amd64"
    );
    manifest = await get(child.digest);
  }
  return manifest.config.digest;
}

test(
  "podman (own root, runroot, registries.conf, vfs) pulls each image with equal digests",
  T,
  async () => {
    await ready();
    const podman = await makeIsolatedPodman(nodePath.join(temp!.dir, "podman"), [
      { location: serverHost, insecure: true },
      // A registries.conf mirror entry: `upstream.test/…` (unresolvable) is pulled from the
      // bundle under the name it was saved as, HOST:PORT/upstream.test/…
      {
        prefix: "upstream.test",
        location: "upstream.test",
        mirrors: [`${serverHost}/upstream.test`],
      },
    ]);
    try {
      // Each pull into an empty store: podman keeps one image per config (the Docker list
      // and the OCI index share theirs), and .Digest is the manifest its first pull named.
      const pullAndInspect = async (name: string) => {
        await podman.run(["rmi", "--all", "--force"]);
        await podman.run(["pull", "--quiet", "--os", "linux", "--arch", "amd64", name]);
        const out = await podman.run(["image", "inspect", "--format", "{{.Id}} {{.Digest}}", name]);
        const [id, digest] = out.trim().split(" ");
        return { config: `sha256:${id}`, digest };
      };
      const cases = [
        ...IMAGES.map((i) => ({ name: `${serverHost}/${i.ref}`, repo: i.repo, tag: i.tag })),
        // --default-registry upstream.test: the short, registry-mirrors style name.
        { name: `${serverHost}/test/multi:latest`, repo: "test/multi", tag: "latest" },
        { name: "upstream.test/test/hello:v1", repo: "test/hello", tag: "v1" },
        // By digest, as the digest-only save of the suite is named.
        {
          name: `${serverHost}/upstream.test/test/hello@${rig.digest("test/hello", "v1")}`,
          repo: "test/hello",
          tag: "v1",
        },
      ];
      for (const { name, repo, tag } of cases) {
        const pulled = await pullAndInspect(name);
        assert.equal(pulled.digest, rig.digest(repo, tag), name);
        assert.equal(pulled.config, await upstreamAmd64ConfigDigest(repo, tag), name);
      }
    } finally {
      await podman.remove();
    }
  },
);

test("a .sig tag and an OCI referrer travel with the image and are served", T, async () => {
  await ready();
  const hello = rig.digest("test/hello", "v1");
  const tags = await (await fetch(`http://${serverHost}/v2/upstream.test/test/hello/tags/list`))
    .json();
  assert.ok(tags.tags.includes(sigTag), JSON.stringify(tags));
  assert.equal(
    await skopeoDigest(`docker://${serverHost}/upstream.test/test/hello:${sigTag}`),
    rig.digest("test/hello", "v1-docker"),
  );
  const response = await fetch(
    `http://${serverHost}/v2/upstream.test/test/hello/referrers/${hello}`,
  );
  assert.equal(response.status, 200);
  const referrers = await response.json();
  assert.deepEqual(referrers.manifests.map((m: { digest: string }) => m.digest), [referrer]);
  assert.equal(referrers.manifests[0].artifactType, "application/vnd.example.sbom");
  const manifest = await fetch(
    `http://${serverHost}/v2/upstream.test/test/hello/manifests/${referrer}`,
    { headers: { accept: OCI_MANIFEST } },
  );
  assert.equal(manifest.status, 200);
  assert.equal(`sha256:${sha256Hex(new Uint8Array(await manifest.arrayBuffer()))}`, referrer);
});

test(
  "the bundle is still a TiUP mirror: mirror checks pass and ferry installs from the same port",
  T,
  async () => {
    await ready();
    const usable = await verifyMirrorDir(bundle);
    assert.ok(usable.some((line) => line.startsWith("hello v1.0.0")), usable.join("\n"));
    const home = { ...env, FERRY_HOME: nodePath.join(temp!.dir, "client-home") };
    await runFerryExpecting(["mirror", "set", `http://${serverHost}`], 0, { env: home });
    await runFerryExpecting(["install", "hello:v1.0.0"], 0, { env: home, timeoutMs: 120_000 });
    const hello = await runFerryExpecting(["hello:v1.0.0"], 0, { env: home });
    assert.match(hello.stdout, /hi/);
    assert.equal(
      await skopeoDigest(`docker://${serverHost}/upstream.test/test/hello:v1`),
      rig.digest("test/hello", "v1"),
    );
  },
);

test("a tampered blob, index.json or inventory is refused by image verify", T, async () => {
  await ready();
  const cases: Array<{ file: (dir: string) => Promise<string>; kind: RegExp }> = [
    {
      // a layer of the big image would do, but any blob shows it: the first non-manifest one
      file: async (dir) => {
        const inventory = JSON.parse(await fs.readFile(nodePath.join(dir, "images.json"), "utf8"));
        const digest = Object.keys(inventory.signed.blobs)[0]!;
        return nodePath.join(dir, "blobs", "sha256", digest.slice(7));
      },
      kind: /\[hash\]/,
    },
    { file: (dir) => Promise.resolve(nodePath.join(dir, "index.json")), kind: /\[verification\]/ },
    { file: (dir) => Promise.resolve(nodePath.join(dir, "images.json")), kind: /\[signature\]/ },
  ];
  for (const [i, { file, kind }] of cases.entries()) {
    const copy = nodePath.join(temp!.dir, `tampered-${i}`);
    await fs.cp(bundle, copy, { recursive: true });
    const target = await file(copy);
    const bytes = await fs.readFile(target);
    // Flip a byte inside a JSON string value so that the file still parses.
    const at = bytes.indexOf("sha256:") + 10;
    bytes[at] = bytes[at] === 0x61 ? 0x62 : 0x61;
    await fs.writeFile(target, bytes);
    const result = await ferry(["image", "verify", copy], 3);
    assert.match(result.stdout, kind, result.stdout);
    await fs.rm(copy, { recursive: true });
  }
});

test(
  "save killed with SIGKILL at random points resumes; nothing unverified is ever visible",
  T,
  async () => {
    await ready();
    const dir = nodePath.join(temp!.dir, "killed");
    const args = [
      "image",
      "save",
      "upstream.test/test/big:latest",
      "-o",
      dir,
      "--config",
      configPath,
    ];
    const random = seededRandom(13);
    for (let round = 0; round < 4; round++) {
      const delay = 500 + Math.floor(random() * 3500);
      await killAfter(args, delay);
      await assertNothingUnverified(dir);
    }
    await ferry(args);
    await assertNothingUnverified(dir);
    await ferry(["image", "verify", dir]);
    const index = JSON.parse(await fs.readFile(nodePath.join(dir, "index.json"), "utf8"));
    assert.equal(index.manifests[0].digest, rig.digest("test/big", "latest"));
    // Already complete: a second save downloads nothing.
    const again = await ferry(args);
    assert.match(again.stdout, / 0 blobs downloaded/);
  },
);

/** Runs ferry with `args` and SIGKILLs it after `delayMs` (if it is still running). */
function killAfter(args: string[], delayMs: number): Promise<void> {
  const [command, ...rest] = ferryCommand();
  const child: ChildProcess = spawn(command!, [...rest, ...args], {
    env: { ...process.env, ...env, NO_COLOR: "1" },
    stdio: "ignore",
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
    child.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test("image verify and save refuse a directory that is not a bundle", T, async () => {
  await ready();
  const other = nodePath.join(temp!.dir, "not-a-bundle");
  await fs.mkdir(other, { recursive: true });
  await fs.writeFile(nodePath.join(other, "notes.txt"), "hello");
  const save = await ferry([
    "image",
    "save",
    "upstream.test/test/hello:v1",
    "-o",
    other,
    "--config",
    configPath,
  ], 2);
  assert.match(save.stderr, /not empty and has no root\.json/);
  assert.equal(await fs.readFile(nodePath.join(other, "notes.txt"), "utf8"), "hello");
  const verify = await runFerry(["image", "verify", other], { env });
  assert.equal(verify.code, 3, verify.stdout + verify.stderr);
});

/** Pushes a one-layer OCI image with `layerBytes` of random content to the rig's upstream. */
async function pushSmallImage(repo: string, tag: string, layerBytes: number): Promise<string> {
  const base = rig.env.RIG_UPSTREAM_URL!;
  const config = new TextEncoder().encode(JSON.stringify({ created: new Date().toISOString() }));
  const layer = new Uint8Array(randomBytes(layerBytes));
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: await pushBlob(base, repo, config),
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: await pushBlob(base, repo, layer),
      size: layer.length,
    }],
  }));
  return await pushManifest(base, repo, tag, manifest, OCI_MANIFEST);
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const path = nodePath.join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(path);
    else if (entry.isFile()) total += (await fs.stat(path)).size;
  }
  return total;
}

test(
  "incremental: 30 images, one changed; the delta is under 5% and load brings it over",
  T,
  async () => {
    await ready();
    const names = Array.from({ length: 30 }, (_, i) => `fleet/app-${i}`);
    for (const name of names) await pushSmallImage(name, "v1", 100_000);
    const list = nodePath.join(temp!.dir, "fleet.txt");
    await fs.writeFile(list, names.map((n) => `upstream.test/${n}:v1`).join("\n") + "\n");
    const near = nodePath.join(temp!.dir, "near");
    const far = nodePath.join(temp!.dir, "far");
    await ferry(["image", "save", "-f", list, "-o", near, "--config", configPath]);
    // The far side gets the whole bundle once (without the private keys).
    await fs.cp(near, far, { recursive: true, filter: (src) => !src.includes(`${near}/keys`) });
    const changed = await pushSmallImage("fleet/app-7", "v1", 100_000);
    const again = await ferry(["image", "save", "-f", list, "-o", near, "--config", configPath]);
    assert.match(again.stdout, / 2 blobs downloaded/, again.stdout);
    const delta = nodePath.join(temp!.dir, "delta");
    await ferry([
      "image",
      "diff",
      near,
      "--have",
      nodePath.join(far, "images.json"),
      "-o",
      delta,
    ]);
    const full = await treeBytes(nodePath.join(near, "blobs"));
    const moved = await treeBytes(delta);
    assert.ok(moved <= 0.05 * full, `delta ${moved} B of a ${full} B bundle`);

    // A tampered delta is refused and changes nothing; the real one loads and verifies.
    const bad = nodePath.join(temp!.dir, "delta-bad");
    await fs.cp(delta, bad, { recursive: true });
    const blob = nodePath.join(bad, "blobs", "sha256", changed.slice(7));
    const bytes = await fs.readFile(blob);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 1;
    await fs.writeFile(blob, bytes);
    const before = await fs.readFile(nodePath.join(far, "images.json"));
    await ferry(["image", "load", bad, "--into", far], 3);
    assert.deepEqual(await fs.readFile(nodePath.join(far, "images.json")), before);
    await ferry(["image", "load", delta, "--into", far]);
    await ferry(["image", "verify", far]);
    const index = JSON.parse(await fs.readFile(nodePath.join(far, "index.json"), "utf8"));
    const entry = index.manifests.find((m: { annotations: Record<string, string> }) =>
      m.annotations["org.opencontainers.image.ref.name"] === "upstream.test/fleet/app-7:v1"
    );
    assert.equal(entry.digest, changed);
  },
);

/** A fresh CNCF Distribution registry of the test's own (its own storage, port and log). */
async function startFreshRegistry(): Promise<
  { url: string; log(): Promise<string>; stop(): Promise<void> }
> {
  const dir = nodePath.join(temp!.dir, "fresh-registry");
  await fs.mkdir(nodePath.join(dir, "data"), { recursive: true });
  const port = await freePort();
  const config = nodePath.join(dir, "config.yml");
  await fs.writeFile(
    config,
    `version: 0.1
log: { level: info, accesslog: { disabled: false } }
storage:
  filesystem: { rootdirectory: ${nodePath.join(dir, "data")} }
http:
  addr: 127.0.0.1:${port}
`,
  );
  const logFile = nodePath.join(dir, "registry.log");
  const out = await fs.open(logFile, "w");
  const child = spawn("timeout", ["-s", "KILL", "600", "docker-registry", "serve", config], {
    stdio: ["ignore", out.fd, out.fd],
  });
  await out.close();
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`${url}/v2/`).then(
      (r) => r.body?.cancel().then(() => true),
      () => false,
    );
    if (up) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    log: () => fs.readFile(logFile, "utf8"),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGTERM");
      await exited;
    },
  };
}

test(
  "push into a fresh Distribution registry keeps digests; a second push moves no blob",
  T,
  async () => {
    await ready();
    const registry = await startFreshRegistry();
    try {
      const args = ["image", "push", bundle, `${registry.url}/mirror`, "--chunk-mb", "1"];
      const first = await ferry(args);
      assert.match(first.stdout, /mounted/);
      for (const image of IMAGES) {
        const response = await fetch(
          `${registry.url}/v2/mirror/${image.repo}/manifests/${image.tag}`,
          { method: "HEAD", headers: { accept: ACCEPT_ALL } },
        );
        assert.equal(
          response.headers.get("docker-content-digest"),
          rig.digest(image.repo, image.tag),
        );
      }
      assert.equal(
        await skopeoDigest(`docker://${registry.url.slice(7)}/mirror/test/multi:latest`),
        rig.digest("test/multi", "latest"),
      );
      const uploadsBefore = (await registry.log()).split("\n").filter((l) =>
        /"(PATCH|POST) \/v2\/[^"]*\/blobs\/uploads/.test(l)
      ).length;
      const second = await ferry(args);
      assert.match(second.stdout, / 0 blobs uploaded .* 0 mounted/, second.stdout);
      const uploadsAfter = (await registry.log()).split("\n").filter((l) =>
        /"(PATCH|POST) \/v2\/[^"]*\/blobs\/uploads/.test(l)
      ).length;
      assert.equal(uploadsAfter, uploadsBefore);
    } finally {
      await registry.stop();
    }
  },
);
