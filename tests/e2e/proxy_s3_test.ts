/**
 * Three `ferry proxy --cache-dir s3://…` replicas on one bucket of the project's Ceph RGW rig,
 * in front of a real CNCF Distribution registry (the registry rig), pulled from with skopeo.
 * The upstream is reached through a small forwarder in this file that counts every blob GET and
 * can slow a blob down, so that there is a "mid-blob" to kill a replica in.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { createServer, type Server } from "node:http";
import * as nodePath from "node:path";
import { after, test } from "node:test";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { loadS3Config } from "../../lib/storage/s3_config.ts";
import { S3Storage } from "../../lib/storage/s3_storage.ts";
import { cacheKeys } from "../../proxy/cache_keys.ts";
import { S3_SKIP, s3Rig, stopS3Rig } from "../storage/_s3_rig.ts";
import { makeTempDir, type RunningFerry, startFerry } from "./_cli.ts";
import { pushBlob, pushManifest, sha256Digest } from "./_push_artifact.ts";
import { run, type RunningRig, startRig } from "./_registry_rig.ts";

const T = { timeout: 300_000 };
const READY = /Registry proxy at (http:\/\/\S+),/;
const MIB = 1024 * 1024;

/** A forwarder in front of the upstream registry: counts blob GETs, slows chosen blobs. */
interface Forwarder {
  url: string;
  /** Digest → blob GETs seen. */
  gets: Map<string, number>;
  /** Digest → bytes of its blob sent to the proxies so far (all GETs together). */
  sent: Map<string, number>;
  /** Blobs sent at about 1 MiB/s. */
  slow: Set<string>;
  close(): Promise<void>;
}

function startForwarder(upstream: string): Promise<Forwarder> {
  const gets = new Map<string, number>();
  const sent = new Map<string, number>();
  const slow = new Set<string>();
  const server: Server = createServer(async (request, response) => {
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(request.url ?? "")?.[1];
    if (blob && request.method === "GET") gets.set(blob, (gets.get(blob) ?? 0) + 1);
    try {
      const headers = new Headers();
      for (const name of ["accept", "authorization", "range"]) {
        const value = request.headers[name];
        if (typeof value === "string") headers.set(name, value);
      }
      const answer = await fetch(upstream + request.url, {
        method: request.method ?? "GET",
        headers,
        redirect: "manual",
      });
      const out: Record<string, string> = {};
      answer.headers.forEach((value, name) => {
        if (name !== "transfer-encoding" && name !== "connection") out[name] = value;
      });
      response.writeHead(answer.status, out);
      if (!answer.body) return void response.end();
      const reader = answer.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (let at = 0; at < value.length; at += 64 * 1024) {
          const piece = value.subarray(at, at + 64 * 1024);
          if (!response.write(piece)) {
            await new Promise((resolve) => response.once("drain", resolve));
          }
          if (blob) sent.set(blob, (sent.get(blob) ?? 0) + piece.length);
          if (blob && slow.has(blob)) await new Promise((resolve) => setTimeout(resolve, 60));
          if (response.destroyed) return void reader.cancel().catch(() => {});
        }
      }
      response.end();
    } catch {
      response.destroy();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}`,
        gets,
        sent,
        slow,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}

let temp: { dir: string; remove(): Promise<void> } | undefined;
let rig: RunningRig | undefined;
let forwarder: Forwarder | undefined;
let bucket: S3Storage | undefined;
const replicas: RunningFerry[] = [];
let pulls = 0;
let started: Promise<void> | undefined;

/** The rigs, the forwarder and three replicas on one fresh prefix, once for the file. */
function ready(): Promise<void> {
  started ??= (async () => {
    const s3 = await s3Rig();
    temp = await makeTempDir("ferry-e2e-proxy-s3");
    rig = await startRig(nodePath.join(temp.dir, "rig"));
    forwarder = await startForwarder(`http://127.0.0.1:${rig.basePort}`);
    const prefix = `proxy-${randomBytes(6).toString("hex")}/`;
    bucket = new S3Storage({ bucket: s3.bucket, prefix }, {
      config: await loadS3Config({ ...s3.env, HOME: s3.stateDir }),
    });
    const configPath = nodePath.join(temp.dir, "proxy.yaml");
    await fs.writeFile(
      configPath,
      `registries:\n  upstream.test: ${forwarder.url}\nupstream: { timeout: 30s, retries: 0 }\n`,
    );
    // Only the rig's settings: HOME points where there is no ~/.aws of the machine's user.
    const env = {
      ...s3.env,
      HOME: temp.dir,
      AWS_PROFILE: undefined,
      FERRY_HOME: nodePath.join(temp.dir, "home"),
    };
    const cache = `s3://${s3.bucket}/${prefix}`;
    for (let i = 0; i < 3; i++) {
      replicas.push(
        await startFerry(
          ["proxy", "--listen", "127.0.0.1:0", "--config", configPath, "--cache-dir", cache],
          { env, readyPattern: READY, readyTimeoutMs: 60_000 },
        ),
      );
    }
  })();
  return started;
}

after(async () => {
  for (const replica of replicas) await replica.stop();
  await forwarder?.close();
  if (bucket) await (await s3Rig().catch(() => undefined))?.empty(bucket).catch(() => {});
  await rig?.stop();
  await stopS3Rig();
  await temp?.remove();
});

function hostOf(replica: RunningFerry): string {
  return replica.ready![1]!.replace("http://", "");
}

/** skopeo copy [--all] docker://<replica>/upstream.test/<ref> dir:<fresh dir>; returns the dir. */
async function pull(replica: RunningFerry, ref: string, all = false): Promise<string> {
  const out = nodePath.join(temp!.dir, `pull-${++pulls}`);
  await run("skopeo", [
    "copy",
    ...(all ? ["--all"] : []),
    "--quiet",
    "--src-tls-verify=false",
    `docker://${hostOf(replica)}/upstream.test/${ref}`,
    `dir:${out}`,
  ], 240_000);
  return out;
}

/** The pulled top-level manifest's digest, after checking every file against its name. */
async function pulledDigest(dir: string): Promise<string> {
  for (const name of await fs.readdir(dir)) {
    if (name === "manifest.json" || name === "version") continue;
    const hex = name.replace(/\.manifest\.json$/, "");
    assert.equal(sha256Hex(await fs.readFile(nodePath.join(dir, name))), hex, `${dir}/${name}`);
  }
  return `sha256:${sha256Hex(await fs.readFile(nodePath.join(dir, "manifest.json")))}`;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

if (S3_SKIP) {
  test("ferry proxy replicas on one S3 bucket", { skip: S3_SKIP }, () => {});
} else {
  test(
    "thirty concurrent cold pulls through three replicas on one bucket fetch each blob once",
    T,
    async () => {
      await ready();
      const images = [
        { ref: "test/big:latest", all: false, copies: 4 },
        { ref: "test/multi:latest", all: true, copies: 13 },
        { ref: "test/hello:v1", all: false, copies: 13 },
      ];
      const jobs = images.flatMap((image) => Array.from({ length: image.copies }, () => image));
      const dirs = await Promise.all(
        jobs.map((image, i) => pull(replicas[i % 3]!, image.ref, image.all)),
      );
      for (const [i, dir] of dirs.entries()) {
        const [repo, tag] = jobs[i]!.ref.split(":") as [string, string];
        assert.equal(await pulledDigest(dir), rig!.digest(repo, tag));
        await fs.rm(dir, { recursive: true });
      }
      assert.ok(forwarder!.gets.has(rig!.bigLayer.digest));
      for (const [digest, count] of forwarder!.gets) {
        assert.equal(count, 1, `blob ${digest} was fetched from the upstream ${count} times`);
      }
    },
  );

  test(
    "the fetching replica killed mid-blob: another completes it, nothing corrupt is served",
    T,
    async () => {
      await ready();
      // A fresh image whose one layer the forwarder sends at about 1 MiB/s.
      const base = `http://127.0.0.1:${rig!.basePort}`;
      const layer = randomBytes(8 * MIB);
      const layerDigest = sha256Digest(layer);
      const config = new TextEncoder().encode(JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [layerDigest] },
      }));
      await pushBlob(base, "test/slow", layer);
      const configDigest = await pushBlob(base, "test/slow", config);
      const manifest = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: configDigest,
          size: config.length,
        },
        layers: [{
          mediaType: "application/vnd.oci.image.layer.v1.tar",
          digest: layerDigest,
          size: layer.length,
        }],
      }));
      const manifestDigest = await pushManifest(
        base,
        "test/slow",
        "v1",
        manifest,
        "application/vnd.oci.image.manifest.v1+json",
      );
      forwarder!.slow.add(layerDigest);

      const [first, second, third] = replicas as [RunningFerry, RunningFerry, RunningFerry];
      const doomed = pull(first, "test/slow:v1").then(() => "completed", () => "failed");
      while ((forwarder!.sent.get(layerDigest) ?? 0) < 2 * MIB) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const waiting = [pull(second, "test/slow:v1"), pull(third, "test/slow:v1")];
      // The lease names the fetcher: the replica the first pull went to.
      const lease = await bucket!.read(cacheKeys.blobLease(layerDigest));
      const holder = JSON.parse(new TextDecoder().decode(await collectBytes(lease.body)));
      assert.equal(holder.pid, first.pid);
      process.kill(first.pid, "SIGKILL");
      await first.exited;
      assert.equal(await doomed, "failed");

      for (const dir of await Promise.all(waiting)) {
        assert.equal(await pulledDigest(dir), manifestDigest);
        assert.equal(
          sha256Hex(await fs.readFile(nodePath.join(dir, layerDigest.slice(7)))),
          layerDigest.slice(7),
        );
      }
      // The killed download and the one that took over; the waiting third fetched nothing.
      assert.equal(forwarder!.gets.get(layerDigest), 2);
      const stored = await bucket!.read(cacheKeys.blob(layerDigest));
      assert.equal(sha256Digest(await collectBytes(stored.body)), layerDigest);
    },
  );
}
