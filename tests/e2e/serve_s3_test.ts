/**
 * `ferry mirror serve s3://…` as N stateless replicas over one bucket, against the real Ceph RGW
 * of the project's rig: a mirror published into the bucket, two replicas (real processes; one
 * with --redirect-large), ferry's client installing from each, a publish through a writer seen
 * by both, the HTTP validators, the redirect followed by a plain HTTP client, and the hostile and
 * failure paths (keys/, a tampered object, one deleted underneath, a wrong prefix, bad
 * credentials, an endpoint that does not answer).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, describe, it } from "node:test";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { openWritableStorage } from "../../lib/storage/open_storage.ts";
import { collectBytes, readBytes } from "../../lib/storage/read_bytes.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { S3_SKIP, s3Rig, stopS3Rig } from "../storage/_s3_rig.ts";
import {
  freePort,
  makeTempDir,
  runFerry,
  runFerryExpecting,
  type RunningFerry,
  startFerry,
} from "./_cli.ts";

const TIMEOUT = { timeout: 300_000 };
const READY = /Serving .* at (https?:\/\/\S+)/;
/** The replicas revalidate what they keep this often. */
const INTERVAL = "1s";
/** Tarballs are ~64 KiB (random bytes do not compress): above this, replica A redirects. */
const REDIRECT_AT = "16KiB";

let temp: { dir: string; remove(): Promise<void> } | undefined;
let env: Record<string, string | undefined> = {};
let mirror = "";
let bucket: Storage | undefined;
/** Replica A redirects large GETs; replica B serves every byte itself. */
const replicas: { a?: RunningFerry; b?: RunningFerry; aUrl: string; bUrl: string } = {
  aUrl: "",
  bUrl: "",
};
let started: Promise<void> | undefined;

function ferry(args: string[], expectCode = 0, home = "home") {
  return runFerryExpecting(args, expectCode, {
    cwd: temp!.dir,
    env: { ...env, FERRY_HOME: nodePath.join(temp!.dir, home) },
    timeoutMs: 180_000,
  });
}

/** A tarball of `name` whose entry prints `version`, with 64 KiB of random bytes beside it. */
async function makeTarball(name: string, version: string): Promise<string> {
  const pkg = nodePath.join(temp!.dir, `pkg-${name}-${version}`);
  await fs.mkdir(pkg);
  await fs.writeFile(nodePath.join(pkg, name), `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
  await fs.writeFile(nodePath.join(pkg, "payload.bin"), randomBytes(64 * 1024));
  const tarball = nodePath.join(temp!.dir, `${name}-${version}.tar.gz`);
  await fs.writeFile(
    tarball,
    await collectBytes(await packTarball([name, "payload.bin"], { cwd: pkg })),
  );
  return tarball;
}

/** `ferry mirror publish NAME VERSION` for linux/amd64, straight into the bucket (a writer). */
async function publish(name: string, version: string) {
  const tarball = await makeTarball(name, version);
  const platform = ["--os", "linux", "--arch", "amd64"];
  return ferry([
    "mirror",
    "publish",
    name,
    version,
    tarball,
    name,
    ...platform,
    "--mirror",
    mirror,
  ]);
}

async function startReplica(
  extra: string[],
  location = mirror,
): Promise<{ process: RunningFerry; url: string }> {
  const port = await freePort();
  const process = await startFerry(
    [
      "mirror",
      "serve",
      location,
      "--listen",
      `127.0.0.1:${port}`,
      "--revalidate-interval",
      INTERVAL,
      ...extra,
    ],
    { env: { ...env, FERRY_HOME: nodePath.join(temp!.dir, "home") }, readyPattern: READY },
  );
  return { process, url: `http://127.0.0.1:${port}` };
}

/** The rig, a mirror with hello v1 in a fresh prefix, and the two replicas serving it. */
function ready(): Promise<void> {
  started ??= (async () => {
    const rig = await s3Rig();
    temp = await makeTempDir("ferry-e2e-serve-s3");
    // Only the rig's settings: HOME points where there is no ~/.aws of the machine's user.
    env = {
      ...rig.env,
      HOME: temp.dir,
      AWS_PROFILE: undefined,
      FERRY_MIRROR: "",
      TIUP_MIRRORS: "",
      TIUP_HOME: undefined,
    };
    mirror = `s3://${rig.bucket}/e2e-${randomBytes(4).toString("hex")}/mirror`;
    bucket = openWritableStorage(mirror, { env });
    await ferry(["mirror", "init", mirror]);
    await ferry(["mirror", "genkey"]);
    await ferry(["mirror", "grant", "jdoe", "--mirror", mirror]);
    await publish("hello", "v1");
    const a = await startReplica(["--redirect-large", REDIRECT_AT]);
    replicas.a = a.process;
    replicas.aUrl = a.url;
    const b = await startReplica([]);
    replicas.b = b.process;
    replicas.bUrl = b.url;
  })();
  return started;
}

/** The linux/amd64 entry of `name`'s newest component manifest, read from a replica. */
async function tarballOf(base: string, name: string, version: string) {
  const snapshot = await (await fetch(`${base}/snapshot.json`)).json();
  const meta = snapshot.signed.meta[`/${name}.json`];
  const manifest = await (await fetch(`${base}/${meta.version}.${name}.json`)).json();
  const item = manifest.signed.platforms["linux/amd64"][version];
  return {
    url: item.url as string,
    sha256: item.hashes.sha256 as string,
    length: item.length as number,
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Polls `check` every 100 ms until it holds, failing after `seconds` (never a timed assertion). */
async function eventually(what: string, check: () => Promise<boolean>, seconds = 60) {
  for (let i = 0; i < seconds * 10; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${what}: not within ${seconds} s`);
}

describe("ferry mirror serve s3:// as two replicas over one bucket", { skip: S3_SKIP }, () => {
  // Inside the describe: Bun runs a file-level after() only for tests outside any describe.
  after(async () => {
    await replicas.a?.stop();
    await replicas.b?.stop();
    await temp?.remove();
    await stopS3Rig();
  });

  it("installs a component from each replica with ferry's client", TIMEOUT, async () => {
    await ready();
    for (const [home, url] of [["client-a", replicas.aUrl], ["client-b", replicas.bUrl]] as const) {
      await ferry(["mirror", "set", url, "--silent"], 0, home);
      await ferry(["install", "hello:v1"], 0, home);
      const run = await ferry(["hello:v1"], 0, home);
      assert.equal(run.stdout, "v1\n");
    }
    // Replica A sent the client to the bucket for the tarball; B served it itself.
    assert.match(replicas.a!.stdout(), /GET \/hello-v1-linux-amd64\.tar\.gz[^"]*" 307 /);
    assert.match(replicas.b!.stdout(), /GET \/hello-v1-linux-amd64\.tar\.gz[^"]*" 200 /);
  });

  it(
    "a publish through a writer is seen by both replicas, and installs from each",
    TIMEOUT,
    async () => {
      await ready();
      const etagOf = async (base: string) => {
        const answer = await fetch(`${base}/timestamp.json`);
        await answer.arrayBuffer();
        return answer.headers.get("etag");
      };
      const before = await etagOf(replicas.aUrl);
      assert.equal(await etagOf(replicas.bUrl), before, "both replicas answer with one validator");
      await publish("hello", "v2");
      for (const base of [replicas.aUrl, replicas.bUrl]) {
        await eventually(
          `${base} serves the new timestamp`,
          async () => (await etagOf(base)) !== before,
        );
      }
      assert.equal(await etagOf(replicas.aUrl), await etagOf(replicas.bUrl));
      for (const home of ["client-a", "client-b"]) {
        await ferry(["install", "hello:v2"], 0, home);
        assert.equal((await ferry(["hello:v2"], 0, home)).stdout, "v2\n");
      }
    },
  );

  it("answers 304, Range and HEAD with the same validators on both replicas", TIMEOUT, async () => {
    await ready();
    const fromA = await fetch(`${replicas.aUrl}/root.json`);
    const body = new Uint8Array(await fromA.arrayBuffer());
    const etag = fromA.headers.get("etag")!;
    assert.match(etag, /^"[0-9a-f]{32}"$/, "the bucket's own ETag");
    assert.equal(fromA.headers.get("cache-control"), "no-cache");
    assert.ok(fromA.headers.get("last-modified"));
    // A client that revalidates against the other replica behind a balancer gets a 304 too.
    const fromB = await fetch(`${replicas.bUrl}/root.json`, { headers: { "if-none-match": etag } });
    assert.equal(fromB.status, 304);
    await fromB.arrayBuffer();
    for (const base of [replicas.aUrl, replicas.bUrl]) {
      const part = await fetch(`${base}/root.json`, { headers: { range: "bytes=0-9" } });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get("content-range"), `bytes 0-9/${body.length}`);
      assert.deepEqual(new Uint8Array(await part.arrayBuffer()), body.subarray(0, 10));
      const head = await fetch(`${base}/root.json`, { method: "HEAD" });
      assert.equal(head.headers.get("content-length"), String(body.length));
      assert.equal(head.headers.get("etag"), etag);
    }
    const snapshot = await (await fetch(`${replicas.bUrl}/snapshot.json`)).json();
    const index = `${snapshot.signed.meta["/index.json"].version}.index.json`;
    const versioned = await fetch(`${replicas.bUrl}/${index}`);
    await versioned.arrayBuffer();
    assert.equal(versioned.status, 200);
    assert.equal(versioned.headers.get("cache-control"), "public, max-age=31536000, immutable");
  });

  it(
    "--redirect-large: a 307 to a presigned URL whose bytes have the manifest's sha256",
    TIMEOUT,
    async () => {
      await ready();
      const item = await tarballOf(replicas.aUrl, "hello", "v1");
      const path = `${replicas.aUrl}${item.url}`;
      const redirect = await fetch(path, { redirect: "manual" });
      await redirect.arrayBuffer();
      assert.equal(redirect.status, 307);
      assert.equal(redirect.headers.get("cache-control"), "no-store");
      const location = redirect.headers.get("location")!;
      // Path-style on the rig's endpoint, signed in the query (SigV4), short-lived.
      assert.ok(location.startsWith(`${env.AWS_ENDPOINT_URL}/${env.S3_BUCKET}/`), location);
      assert.match(location, /X-Amz-Signature=[0-9a-f]{64}/);
      assert.match(location, /X-Amz-Expires=300\b/);
      // A plain HTTP client, no credentials: the bytes come from the object store.
      const bytes = new Uint8Array(await (await fetch(location)).arrayBuffer());
      assert.equal(bytes.length, item.length);
      assert.equal(sha256(bytes), item.sha256);
      // A Range is redirected too, and the store honours it.
      const ranged = await fetch(path, { headers: { range: "bytes=100-199" } });
      assert.equal(ranged.status, 206);
      assert.deepEqual(new Uint8Array(await ranged.arrayBuffer()), bytes.subarray(100, 200));
      // HEAD and a revalidation are answered by the replica itself.
      const head = await fetch(path, { method: "HEAD", redirect: "manual" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-length"), String(item.length));
      const etag = head.headers.get("etag")!;
      const again = await fetch(path, { headers: { "if-none-match": etag }, redirect: "manual" });
      assert.equal(again.status, 304);
      // Replica B serves the same bytes itself.
      const direct = await fetch(`${replicas.bUrl}${item.url}`, { redirect: "manual" });
      assert.equal(direct.status, 200);
      assert.equal(sha256(new Uint8Array(await direct.arrayBuffer())), item.sha256);
    },
  );

  it("never serves keys/ or the lease, on either replica", TIMEOUT, async () => {
    await ready();
    const keys = (await Array.fromAsync(bucket!.list("keys/"))).map((file) => file.path);
    assert.ok(keys.length >= 3, keys.join(", "));
    for (const base of [replicas.aUrl, replicas.bUrl]) {
      for (const key of [...keys, "keys", "lock"]) {
        for (const spelling of [`/${key}`, `/${key.replace("/", "%2F")}`, `/./${key}`]) {
          const answer = await fetch(`${base}${spelling}`, { redirect: "manual" });
          const text = await answer.text();
          assert.ok(
            answer.status === 404 || answer.status === 400,
            `${spelling}: ${answer.status}`,
          );
          assert.doesNotMatch(text, /private|"key"/i);
        }
      }
    }
  });

  it(
    "a tarball tampered with in the bucket is served, and ferry's client refuses it",
    TIMEOUT,
    async () => {
      await ready();
      await publish("tamper", "v1");
      const item = await tarballOf(replicas.bUrl, "tamper", "v1");
      const key = item.url.replace(/^\//, "");
      const original = await collectBytes((await bucket!.read(key)).body);
      const tampered = original.slice();
      tampered[tampered.length - 10]! ^= 0xff;
      await bucket!.write(key, tampered);
      for (
        const [home, url] of [["tamper-a", replicas.aUrl], ["tamper-b", replicas.bUrl]] as const
      ) {
        await ferry(["mirror", "set", url, "--silent"], 0, home);
        const result = await ferry(["install", "tamper:v1"], 3, home);
        assert.match(result.stderr, /sha256/);
        const installed = nodePath.join(temp!.dir, home, "components", "tamper");
        assert.equal(await fs.lstat(installed).then(() => true, () => false), false);
      }
    },
  );

  it(
    "an object deleted underneath answers 404 on both replicas once revalidated",
    TIMEOUT,
    async () => {
      await ready();
      await bucket!.write("notes.txt", "served, then deleted\n");
      for (const base of [replicas.aUrl, replicas.bUrl]) {
        // Read twice: the second answer comes from memory.
        for (let i = 0; i < 2; i++) {
          assert.equal(await (await fetch(`${base}/notes.txt`)).text(), "served, then deleted\n");
        }
      }
      await bucket!.delete("notes.txt");
      for (const base of [replicas.aUrl, replicas.bUrl]) {
        await eventually(`${base} sees the deletion`, async () => {
          const answer = await fetch(`${base}/notes.txt`);
          await answer.arrayBuffer();
          return answer.status === 404;
        });
        assert.equal((await fetch(`${base}/timestamp.json`)).status, 200);
      }
    },
  );

  it(
    "--redirect-origin: the presigned URL is signed for the origin clients reach",
    TIMEOUT,
    async () => {
      await ready();
      // The rig listens on 127.0.0.1; "localhost" stands for the name clients use.
      const endpoint = new URL(env.AWS_ENDPOINT_URL!);
      const origin = `http://localhost:${endpoint.port}`;
      const replica = await startReplica([
        "--redirect-large",
        REDIRECT_AT,
        "--redirect-origin",
        origin,
      ]);
      try {
        const item = await tarballOf(replica.url, "hello", "v1");
        const redirect = await fetch(`${replica.url}${item.url}`, { redirect: "manual" });
        await redirect.arrayBuffer();
        assert.equal(redirect.status, 307);
        const location = redirect.headers.get("location")!;
        assert.ok(location.startsWith(`${origin}/${env.S3_BUCKET}/`), location);
        const bytes = new Uint8Array(await (await fetch(location)).arrayBuffer());
        assert.equal(sha256(bytes), item.sha256);
        // Signed for that host: the same URL by the other name is refused by the store.
        const other = location.replace(origin, endpoint.origin);
        const refused = await fetch(other);
        await refused.arrayBuffer();
        assert.equal(refused.status, 403);
      } finally {
        await replica.process.stop();
      }
      const usage = await ferry(
        ["mirror", "serve", mirror, "--listen", "127.0.0.1:0", "--redirect-origin", origin],
        2,
      );
      assert.match(usage.stderr, /Cannot use --redirect-origin without --redirect-large/);
      // Only an origin: a scheme other than http(s), or a path, would sign URLs no store answers.
      for (const bad of ["ftp://localhost:1", `${origin}/bucket`, "localhost"]) {
        const refused = await ferry([
          "mirror",
          "serve",
          mirror,
          "--listen",
          "127.0.0.1:0",
          "--redirect-large",
          "1MiB",
          "--redirect-origin",
          bad,
        ], 2);
        assert.match(refused.stderr, /Cannot use --redirect-origin .*expected http\(s\):\/\/HOST/);
      }
    },
  );

  it(
    "two --publish replicas: publishes through each at once land, verify passes",
    TIMEOUT,
    async () => {
      await ready();
      const writers = [await startReplica(["--publish"]), await startReplica(["--publish"])];
      try {
        const [one, two] = await Promise.all(
          writers.map(async ({ url }, i) => {
            const tarball = await makeTarball("team", `v${i + 1}`);
            return await ferry([
              "mirror",
              "publish",
              "team",
              `v${i + 1}`,
              tarball,
              "team",
              "--os",
              "linux",
              "--arch",
              "amd64",
              "--mirror",
              url,
            ]);
          }),
        );
        assert.match(one!.stdout, /Published team v1/, one!.stderr);
        assert.match(two!.stdout, /Published team v2/, two!.stderr);
        // Both versions are in the bucket's one mirror (no update lost), seen through a plain
        // replica, with the bytes their manifest names. (`mirror verify` of the whole bucket
        // would also report the tarball an earlier test tampered with.)
        for (const version of ["v1", "v2"]) {
          await eventually(`replica B lists team ${version}`, async () => {
            const item = await tarballOf(replicas.bUrl, "team", version).catch(() => undefined);
            if (item === undefined) return false;
            const bytes = new Uint8Array(
              await (await fetch(replicas.bUrl + item.url)).arrayBuffer(),
            );
            assert.equal(sha256(bytes), item.sha256);
            return true;
          });
        }
      } finally {
        for (const writer of writers) await writer.process.stop();
      }
    },
  );

  it(
    "--upstream over a --no-tarballs clone in the bucket: a tarball is pulled, verified, kept",
    TIMEOUT,
    async () => {
      await ready();
      // The upstream is replica B (the bucket mirror over HTTP); the clone lives in the bucket.
      const clone = `${mirror}-pull-through`;
      await ferry([
        "mirror",
        "clone",
        clone,
        "--source",
        replicas.bUrl,
        "--no-tarballs",
        "--skip-ferry-binary",
        "--hello",
        "v1",
        "--os",
        "linux",
        "--arch",
        "amd64",
      ]);
      const cloned = openWritableStorage(clone, { env });
      const item = await tarballOf(replicas.bUrl, "hello", "v1");
      const path = item.url.replace(/^\//, "");
      assert.equal(await cloned.stat(path).then(() => true, () => false), false, "no tarball yet");
      const pullThrough = await startReplica(["--upstream", replicas.bUrl], clone);
      try {
        const home = "home-pull-through";
        await ferry(["mirror", "set", pullThrough.url, "--silent"], 0, home);
        await ferry(["install", "hello:v1"], 0, home);
        assert.equal((await ferry(["hello:v1"], 0, home)).stdout.trim(), "v1");
        // Kept in the bucket, whole, under the manifest's hash.
        let kept: number | undefined;
        for (let i = 0; i < 300 && kept !== item.length; i++) {
          kept = (await cloned.stat(path).catch(() => undefined))?.size;
          if (kept !== item.length) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const output = pullThrough.process.stdout() + pullThrough.process.stderr();
        assert.equal(kept, item.length, `the pulled tarball is kept in the bucket:\n${output}`);
        assert.equal(sha256(await readBytes(cloned, path)), item.sha256);
      } finally {
        await pullThrough.process.stop();
      }
    },
  );

  it(
    "refuses to start on a wrong prefix, bad credentials or an endpoint that does not answer",
    TIMEOUT,
    async () => {
      await ready();
      const serve = (
        location: string,
        extra: Record<string, string | undefined> = {},
        flags: string[] = [],
      ) =>
        runFerry(["mirror", "serve", location, "--listen", "127.0.0.1:0", ...flags], {
          cwd: temp!.dir,
          env: { ...env, FERRY_HOME: nodePath.join(temp!.dir, "home"), ...extra },
          timeoutMs: 120_000,
        });
      const wrongPrefix = await serve(`${mirror}-nothing-here`);
      assert.equal(wrongPrefix.code, 2, wrongPrefix.stderr);
      assert.match(wrongPrefix.stderr, /holds no mirror \(no root\.json/);
      const badSecret = await serve(mirror, { AWS_SECRET_ACCESS_KEY: "not-the-secret" });
      assert.notEqual(badSecret.code, 0);
      assert.match(badSecret.stderr, /HTTP 403.*check the S3 credentials/);
      const closed = await freePort();
      const noAnswer = await serve(mirror, { AWS_ENDPOINT_URL: `http://127.0.0.1:${closed}` });
      assert.notEqual(noAnswer.code, 0);
      assert.match(noAnswer.stderr, /Cannot stat "s3:\/\/.*root\.json"/);
      const local = await serve(temp!.dir, {}, ["--redirect-large", "1MiB"]);
      assert.equal(local.code, 2);
      assert.match(local.stderr, /Cannot use --redirect-large .*only an s3:\/\/ mirror/);
    },
  );
});
