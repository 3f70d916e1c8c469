/**
 * `ferry mirror serve DIR --publish` with real clients: `ferry mirror publish/modify --mirror
 * http://…` (the CLI), ten publishers of different versions at once (ferry's remote publish
 * client, in this process), then `ferry mirror verify`; and the clear refusal of a server that
 * has no publish API.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, before, describe, it } from "node:test";
import { loadSigningKey } from "../../lib/format/load_key.ts";
import { publishToHttpMirror } from "../../lib/remote_publish/publish_to_http_mirror.ts";
import { hashStream } from "../../lib/format/hash.ts";
import { freePort, makeTempDir, type RunningFerry, startFerry } from "./_cli.ts";
import { makePublishingMirror, type PublishingMirror } from "./_publishing_mirror.ts";

const TIMEOUT = { timeout: 240_000 };

let temp: { dir: string; remove(): Promise<void> };
let env: Record<string, string | undefined>;
let mirror: string;
let tarball: string;
let server: RunningFerry | undefined;
let readOnly: RunningFerry | undefined;
let url: string;
let readOnlyUrl: string;

let ferry: PublishingMirror["ferry"];
let publishArgs: PublishingMirror["publishArgs"];

before(async () => {
  temp = await makeTempDir("ferry-e2e-publish-api");
  ({ env, mirror, tarball, ferry, publishArgs } = await makePublishingMirror(temp.dir));
  const port = await freePort();
  server = await startFerry(
    [
      "mirror",
      "serve",
      mirror,
      "--publish",
      "--listen",
      `127.0.0.1:${port}`,
      "--access-log",
      "off",
    ],
    { env, readyPattern: /Serving .* at (http\S+)/ },
  );
  url = server.ready![1]!;
  const readOnlyPort = await freePort();
  readOnly = await startFerry(
    ["mirror", "serve", mirror, "--listen", `127.0.0.1:${readOnlyPort}`, "--access-log", "off"],
    { env, readyPattern: /Serving .* at (http\S+)/ },
  );
  readOnlyUrl = readOnly.ready![1]!;
});

after(async () => {
  await server?.stop();
  await readOnly?.stop();
  await temp?.remove();
});

describe("ferry mirror serve --publish", () => {
  it(
    "takes ferry mirror publish and modify --mirror http://…; the mirror verifies",
    TIMEOUT,
    async () => {
      const published = await ferry(publishArgs("v1.0.0", url));
      assert.match(published.stdout, /Published hello v1\.0\.0 for linux\/amd64 to http/);
      const stored = await fs.readFile(nodePath.join(mirror, "hello-v1.0.0-linux-amd64.tar.gz"));
      assert.deepEqual(stored, await fs.readFile(tarball));
      await ferry(["mirror", "modify", "hello", "--desc", "Says hello", "--mirror", url]);
      const index = JSON.parse(await fs.readFile(nodePath.join(mirror, "snapshot.json"), "utf8"));
      assert.equal(index.signed.meta["/hello.json"].version, 2);
      await ferry(["mirror", "verify", mirror]);
    },
  );

  it(
    "lands ten concurrent publishers of different versions; mirror verify passes",
    TIMEOUT,
    async () => {
      const key = await loadSigningKey(nodePath.join(env.FERRY_HOME!, "keys", "private.json"));
      const open = () =>
        Readable.toWeb(createReadStream(tarball)) as unknown as ReadableStream<Uint8Array>;
      const digest = await hashStream(open());
      const versions = Array.from({ length: 10 }, (_, i) => `v2.0.${i}`);
      const results = await Promise.all(versions.map((version) =>
        publishToHttpMirror(url, {
          component: "racer",
          version,
          platform: "linux/amd64",
          entry: "hello",
          tarball: { ...digest, open },
        }, { key, attempts: 30, retryDelayMs: 200 })
      ));
      assert.equal(results.length, 10);
      const snapshot = JSON.parse(
        await fs.readFile(nodePath.join(mirror, "snapshot.json"), "utf8"),
      );
      const version = snapshot.signed.meta["/racer.json"].version;
      assert.equal(version, 10);
      const manifest = JSON.parse(
        await fs.readFile(nodePath.join(mirror, `${version}.racer.json`), "utf8"),
      );
      assert.deepEqual(Object.keys(manifest.signed.platforms["linux/amd64"]).sort(), versions);
      await ferry(["mirror", "verify", mirror]);
    },
  );

  it("says a server without the publish API has none, and changes nothing", TIMEOUT, async () => {
    const before = await fs.readFile(nodePath.join(mirror, "timestamp.json"));
    const result = await ferry(
      ["mirror", "publish", "hello", "v9.0.0", tarball, "hello", "--mirror", readOnlyUrl],
      2,
    );
    assert.match(result.stderr, /has no publish API .*ferry mirror serve DIR --publish/);
    assert.deepEqual(await fs.readFile(nodePath.join(mirror, "timestamp.json")), before);
  });
});
