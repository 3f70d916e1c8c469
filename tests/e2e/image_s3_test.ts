/**
 * An image bundle kept in a bucket, through the real CLI against the real Ceph RGW and the
 * registry rig's Distribution: `ferry image save -o s3://…`, `image verify s3://…` (and its
 * refusal of a blob tampered with in the bucket), `ferry mirror serve s3://…` answering skopeo on
 * /v2/ with the upstream's digests, `image load --into s3://…` of a delta and `image push` from
 * the bucket into a fresh registry.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, test } from "node:test";
import { openWritableStorage } from "../../lib/storage/open_storage.ts";
import { readBytes } from "../../lib/storage/read_bytes.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { S3_SKIP, s3Rig, stopS3Rig } from "../storage/_s3_rig.ts";
import { makeTempDir, runFerryExpecting, type RunningFerry, startFerry } from "./_cli.ts";
import { run, type RunningRig, startRig } from "./_registry_rig.ts";

const T = { timeout: 300_000 };

let temp: { dir: string; remove(): Promise<void> } | undefined;
let registry: RunningRig | undefined;
let env: Record<string, string | undefined> = {};
let bundle = "";
let bucket: Storage | undefined;
let configPath = "";
let server: RunningFerry | undefined;
let started: Promise<void> | undefined;

function ferry(args: string[], expectCode = 0) {
  return runFerryExpecting(args, expectCode, { cwd: temp!.dir, env, timeoutMs: 240_000 });
}

/** The seeded single-arch images of the registry rig. */
function images() {
  return registry!.images.filter((i) => !/index|list/.test(i.mediaType));
}

/** The rigs and a bundle of two images saved straight into a fresh prefix of the bucket. */
function ready(): Promise<void> {
  started ??= (async () => {
    const s3 = await s3Rig();
    temp = await makeTempDir("ferry-e2e-image-s3");
    registry = await startRig(nodePath.join(temp.dir, "rig"));
    env = {
      ...s3.env,
      HOME: temp.dir,
      AWS_PROFILE: undefined,
      FERRY_HOME: nodePath.join(temp.dir, "home"),
      FERRY_MIRROR: "",
      TIUP_MIRRORS: "",
    };
    bundle = `s3://${s3.bucket}/images-${randomBytes(4).toString("hex")}/bundle`;
    bucket = openWritableStorage(bundle, { env });
    configPath = nodePath.join(temp.dir, "registries.yaml");
    await fs.writeFile(
      configPath,
      `registries:\n  upstream.test: http://127.0.0.1:${registry.basePort}\n`,
    );
    const [first] = images();
    await ferry([
      "image",
      "save",
      `upstream.test/${first!.repo}:${first!.tag}`,
      "-o",
      bundle,
      "--config",
      configPath,
    ]);
  })();
  return started;
}

after(async () => {
  await server?.stop();
  await registry?.stop();
  await stopS3Rig();
  await temp?.remove();
});

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

if (S3_SKIP) {
  test("image bundles in a bucket", { skip: S3_SKIP }, () => {});
} else {
  test("image save into s3:// writes a bundle that image verify accepts", T, async () => {
    await ready();
    const verify = await ferry(["image", "verify", bundle]);
    assert.match(verify.stdout, /Bundle s3:\/\//, verify.stdout);
    // The bundle's keys went under PREFIX/keys/, as mirror init writes them.
    const keys = await Array.fromAsync(bucket!.list("keys/"));
    assert.ok(keys.length > 0, "keys/ in the bucket");
  });

  test("mirror serve s3:// answers skopeo on /v2/ with the upstream's digests", T, async () => {
    await ready();
    server = await startFerry(["mirror", "serve", bundle, "--listen", "127.0.0.1:0"], {
      env,
      readyPattern: /Serving .* at (https?:\/\/\S+)/,
    });
    const host = server.ready![1]!.replace(/^https?:\/\//, "");
    const [first] = images();
    const out = nodePath.join(temp!.dir, "pulled");
    await run("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      `docker://${host}/upstream.test/${first!.repo}:${first!.tag}`,
      `dir:${out}`,
    ], 240_000);
    const manifest = await fs.readFile(nodePath.join(out, "manifest.json"));
    assert.equal(`sha256:${sha256Hex(manifest)}`, first!.digest);
  });

  test("a delta loads into the s3:// bundle, which then pushes into a registry", T, async () => {
    await ready();
    const [first, second] = images();
    assert.ok(second, "the rig seeds two single-arch images");
    // The far side is the bucket: its inventory, a near-side bundle with one more image, a delta.
    const have = nodePath.join(temp!.dir, "far-images.json");
    await fs.writeFile(have, await readBytes(bucket!, "images.json"));
    const near = nodePath.join(temp!.dir, "near");
    const list = nodePath.join(temp!.dir, "images.txt");
    await fs.writeFile(
      list,
      [first!, second!].map((i) => `upstream.test/${i.repo}:${i.tag}`).join("\n") + "\n",
    );
    // The near side must be the same mirror: a copy of the bucket's bundle, keys included.
    for await (const file of bucket!.list("")) {
      const target = nodePath.join(near, file.path);
      await fs.mkdir(nodePath.dirname(target), { recursive: true });
      await fs.writeFile(target, await readBytes(bucket!, file.path));
    }
    await ferry(["image", "save", "-f", list, "-o", near, "--config", configPath]);
    // The delta itself may be carried in a bucket too.
    const delta = `${bundle}-delta`;
    await ferry(["image", "diff", near, "--have", have, "-o", delta]);
    await ferry(["image", "load", delta, "--into", bundle]);
    const verify = await ferry(["image", "verify", bundle]);
    assert.match(verify.stdout, /Bundle s3:\/\//, verify.stdout);
    // Push from the bucket into the rig's empty registry under a prefix: digests kept.
    await ferry([
      "image",
      "push",
      bundle,
      `http://127.0.0.1:${registry!.basePort}/from-s3`,
    ]);
    for (const image of [first!, second!]) {
      const answer = await fetch(
        `http://127.0.0.1:${registry!.basePort}/v2/from-s3/${image.repo}/manifests/${image.tag}`,
        { method: "HEAD", headers: { accept: image.mediaType } },
      );
      assert.equal(answer.headers.get("docker-content-digest"), image.digest, image.repo);
    }
  });

  test("image verify s3:// refuses a blob tampered with in the bucket", T, async () => {
    await ready();
    const inventory = JSON.parse(new TextDecoder().decode(await readBytes(bucket!, "images.json")));
    const digest = Object.keys(inventory.signed.blobs)[0]!;
    const path = `blobs/sha256/${digest.slice(7)}`;
    const bytes = await readBytes(bucket!, path);
    const tampered = bytes.slice();
    tampered[0] = tampered[0]! ^ 1;
    await bucket!.write(path, tampered);
    try {
      const result = await ferry(["image", "verify", bundle], 3);
      assert.match(result.stdout, /\[hash\]/, result.stdout);
    } finally {
      await bucket!.write(path, bytes);
    }
  });
}
