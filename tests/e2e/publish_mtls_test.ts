/**
 * `ferry mirror serve --publish --publish-listen ADDR --client-ca CA`: the write API on a
 * listener of its own that asks for a client certificate, reads for everyone on the main one.
 * Clients: curl (with and without a certificate, with one of another CA) and `ferry mirror
 * publish/modify --mirror https://… --cacert --client-cert --client-key`.
 *
 * The server runs on Bun (the binary in CI, `bun main.ts` from source): Deno.serve cannot ask
 * for client certificates. The publishing ferry runs as the suite does (Deno from source, or the
 * binary), so both runtimes' client certificates are exercised.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, before, describe, it } from "node:test";
import { makeClientCaCertificates } from "../_client_ca_certificates.ts";
import { freePort, makeTempDir, type RunningFerry, startFerry } from "./_cli.ts";
import { makePublishingMirror, type PublishingMirror } from "./_publishing_mirror.ts";

const TIMEOUT = { timeout: 240_000 };

let temp: { dir: string; remove(): Promise<void> };
let env: Record<string, string | undefined>;
let mirror: string;
let tarball: string;
let file: (name: string) => string;
let server: RunningFerry | undefined;
let readUrl: string;
let publishUrl: string;

let ferry: PublishingMirror["ferry"];
let publishArgs: PublishingMirror["publishArgs"];

/** curl, bounded: its exit code, the HTTP status (0 without an answer) and the body. */
function curl(args: string[]): Promise<{ code: number; status: number; body: string }> {
  return new Promise((resolve) => {
    execFile(
      "curl",
      ["--silent", "--max-time", "60", "--write-out", "\n%{http_code}", ...args],
      (error, stdout) => {
        const code = typeof (error as { code?: unknown })?.code === "number"
          ? (error as { code: number }).code
          : error
          ? -1
          : 0;
        const cut = stdout.lastIndexOf("\n");
        resolve({ code, status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) });
      },
    );
  });
}

const trustServer = () => ["--cacert", file("ca.pem")];
const withClientCert = (name = "client") => [
  ...trustServer(),
  "--cert",
  file(`${name}.pem`),
  "--key",
  file(`${name}.key`),
];
const publishTls = () => [
  "--cacert",
  file("ca.pem"),
  "--client-cert",
  file("client.pem"),
  "--client-key",
  file("client.key"),
];

before(async () => {
  temp = await makeTempDir("ferry-e2e-publish-mtls");
  file = makeClientCaCertificates(temp.dir);
  ({ env, mirror, tarball, ferry, publishArgs } = await makePublishingMirror(temp.dir));
  const [readPort, publishPort] = [await freePort(), await freePort()];
  server = await startFerry([
    "mirror",
    "serve",
    mirror,
    "--listen",
    `127.0.0.1:${readPort}`,
    "--tls-cert",
    file("server.pem"),
    "--tls-key",
    file("server.key"),
    "--publish",
    "--publish-listen",
    `127.0.0.1:${publishPort}`,
    "--client-ca",
    file("ca.pem"),
    "--access-log",
    "off",
  ], {
    env,
    fromSourceOn: "bun",
    readyPattern: /Publish API at (https\S+) \(client certificate required\)/,
  });
  readUrl = `https://127.0.0.1:${readPort}`;
  publishUrl = server.ready![1]!;
  assert.equal(publishUrl, `https://127.0.0.1:${publishPort}`);
});

after(async () => {
  await server?.stop();
  await temp?.remove();
});

describe("ferry mirror serve --publish-listen --client-ca", () => {
  it("serves reads on the main listener to a client without a certificate", TIMEOUT, async () => {
    const read = await curl([...trustServer(), `${readUrl}/root.json`]);
    assert.equal(read.code, 0);
    assert.equal(read.status, 200);
    assert.deepEqual(
      JSON.parse(read.body),
      JSON.parse(await fs.readFile(nodePath.join(mirror, "root.json"), "utf8")),
    );
  });

  it(
    "refuses writes on the main listener with TiUP's 403, naming the publish listener",
    TIMEOUT,
    async () => {
      for (const args of [trustServer(), withClientCert()]) {
        const write = await curl([...args, "-X", "POST", `${readUrl}/api/v1/rotate`, "-d", "{}"]);
        assert.equal(write.status, 403, write.body);
        const answer = JSON.parse(write.body);
        assert.equal(answer.status, "FORBIDDEN");
        assert.match(answer.message, new RegExp(`publish through .*${new URL(publishUrl).port}`));
      }
    },
  );

  it(
    "lets no spelling of an API path reach the write API on the main listener",
    TIMEOUT,
    async () => {
      const spellings: Array<[string, string]> = [
        ["GET", "/api/v1/rotate"],
        ["HEAD", "/api/v1/rotate"],
        ["POST", "/api/v1/component/sid/hello"],
        ["POST", "/api/v1/tarball/sid"],
        ["POST", "/a/../api/v1/rotate"],
        ["POST", "/%61pi/v1/rotate"],
        ["POST", "//api/v1/rotate"],
        ["POST", "/api/v1/rotate?x=1"],
      ];
      for (const [method, path] of spellings) {
        const answer = await curl([
          ...withClientCert(),
          "--path-as-is",
          ...(method === "HEAD" ? ["--head"] : ["-X", method]),
          ...(method === "POST" ? ["-d", "{}"] : []),
          `${readUrl}${path}`,
        ]);
        // 403 (refused here), 404 or 405 (the static mirror's); never the API's (400, 204).
        assert.ok([403, 404, 405].includes(answer.status), `${method} ${path}: ${answer.status}`);
      }
      // The same request on the publish listener reaches the API (a TiUP-style refusal of {}).
      const api = await curl([
        ...withClientCert(),
        "-X",
        "POST",
        `${publishUrl}/api/v1/rotate`,
        "-d",
        "{}",
      ]);
      assert.equal(api.status, 400, api.body);
    },
  );

  it(
    "asks for a certificate of the CA on the publish listener, reads included",
    TIMEOUT,
    async () => {
      const none = await curl([...trustServer(), `${publishUrl}/root.json`]);
      assert.notEqual(none.code, 0, "served a client without a certificate");
      assert.equal(none.status, 0);
      const rogue = await curl([...withClientCert("rogue"), `${publishUrl}/root.json`]);
      assert.notEqual(rogue.code, 0, "served a client with a certificate of another CA");
      const good = await curl([...withClientCert(), `${publishUrl}/root.json`]);
      assert.equal(good.status, 200);
    },
  );

  it(
    "takes ferry mirror publish and modify with --client-cert; refuses them without",
    TIMEOUT,
    async () => {
      const publish = publishArgs("v1.0.0", publishUrl);
      const refused = await ferry([...publish, "--cacert", file("ca.pem")], 4);
      assert.match(refused.stderr, /127\.0\.0\.1.*client certificate/);
      await assert.rejects(fs.stat(nodePath.join(mirror, "hello.json")));

      const published = await ferry([...publish, ...publishTls()]);
      assert.match(published.stdout, /Published hello v1\.0\.0 for linux\/amd64 to https/);
      await ferry([
        "mirror",
        "modify",
        "hello",
        "--desc",
        "Says hello",
        "--mirror",
        publishUrl,
        ...publishTls(),
      ]);
      // Everyone reads what was published from the main listener.
      const served = await curl([
        ...trustServer(),
        "--output",
        nodePath.join(temp.dir, "served.tar.gz"),
        `${readUrl}/hello-v1.0.0-linux-amd64.tar.gz`,
      ]);
      assert.equal(served.status, 200);
      assert.deepEqual(
        await fs.readFile(nodePath.join(temp.dir, "served.tar.gz")),
        await fs.readFile(tarball),
      );
      const index = JSON.parse(await fs.readFile(nodePath.join(mirror, "snapshot.json"), "utf8"));
      assert.equal(index.signed.meta["/hello.json"].version, 2);
      await ferry(["mirror", "verify", mirror]);
    },
  );

  it("refuses bad flags with exit 2 before anything listens", TIMEOUT, async () => {
    const port = new URL(readUrl).port;
    const serve = ["mirror", "serve", mirror];
    const modify = ["mirror", "modify", "hello", "--desc", "x", "--mirror"];
    const cases: Array<[string[], number, RegExp]> = [
      [[...serve, "--publish-listen", "127.0.0.1:1"], 2, /--publish-listen without --publish/],
      [[...serve, "--publish", "--publish-listen", "nowhere"], 2, /--publish-listen "nowhere"/],
      [
        [
          ...serve,
          "--listen",
          `127.0.0.1:${port}`,
          "--publish",
          "--publish-listen",
          `127.0.0.1:${port}`,
        ],
        2,
        /--publish-listen "127\.0\.0\.1:\d+": it is the --listen address/,
      ],
      // Taken by the running server: the error names the flag to change (a bind error: 1).
      [
        [...serve, "--listen", "127.0.0.1:0", "--publish", "--publish-listen", `127.0.0.1:${port}`],
        1,
        /already in use \(pick another with --publish-listen\)/,
      ],
      [
        [...modify, publishUrl, "--client-cert", file("client.pem")],
        2,
        /--client-cert without --client-key/,
      ],
      [
        [
          ...modify,
          mirror,
          "--client-cert",
          file("client.pem"),
          "--client-key",
          file("client.key"),
        ],
        2,
        /Cannot use --client-cert with the mirror .*--mirror https:/,
      ],
      [[...modify, publishUrl, "--cacert", tarball], 2, /is not a PEM file/],
    ];
    for (const [args, code, message] of cases) {
      const result = await ferry(args, code);
      assert.match(result.stderr, message, args.join(" "));
    }
  });
});
