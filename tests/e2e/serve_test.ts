/**
 * `ferry mirror serve` as a user runs it: a real process on a real port, fetched with curl.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import * as fs from "node:fs/promises";
import { createServer } from "node:net";
import * as nodePath from "node:path";
import { after, test } from "node:test";
import { makeClientCaCertificates } from "../_client_ca_certificates.ts";
import {
  freePort,
  makeTempDir,
  runFerry,
  type RunningFerry,
  startFerry,
  usingBinary,
} from "./_cli.ts";

const E2E_TIMEOUT = { timeout: 180_000 };
const SECRET = "PRIVATE KEY MATERIAL";
const BIG_BYTES = 200 * 1024 * 1024;
const READY = /Serving .* at (https?:\/\/\S+)/;

interface Mirror {
  dir: string;
  base: string;
  bigSha256: string;
  remove(): Promise<void>;
}

/** A mirror directory: manifests, a tarball, a 200 MB random file, keys/ and a secret outside. */
async function makeMirror(): Promise<Mirror> {
  const temp = await makeTempDir("ferry-e2e-serve");
  const dir = nodePath.join(temp.dir, "mirror");
  await fs.mkdir(nodePath.join(dir, "keys"), { recursive: true });
  await fs.writeFile(nodePath.join(dir, "root.json"), '{"signed":{"_type":"root"}}');
  await fs.writeFile(nodePath.join(dir, "1.index.json"), '{"signed":{"_type":"index"}}');
  const tarball = new Uint8Array(1000);
  for (let i = 0; i < tarball.length; i++) tarball[i] = i & 0xff;
  await fs.writeFile(nodePath.join(dir, "hello-v0.0.1-linux-amd64.tar.gz"), tarball);
  await fs.writeFile(nodePath.join(dir, "keys", "root.json"), SECRET);
  await fs.writeFile(nodePath.join(temp.dir, "secret.txt"), SECRET);
  // 200 MB of random bytes, hashed as written.
  const hash = createHash("sha256");
  const handle = await fs.open(nodePath.join(dir, "big.tar.gz"), "w");
  const chunk = new Uint8Array(8 * 1024 * 1024);
  for (let written = 0; written < BIG_BYTES; written += chunk.length) {
    randomFillSync(chunk);
    hash.update(chunk);
    await handle.write(chunk);
  }
  await handle.close();
  return { dir, base: temp.dir, bigSha256: hash.digest("hex"), remove: temp.remove };
}

interface CurlResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs curl (bounded to 120 s) and returns its exit code and raw output. */
function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      "curl",
      ["--silent", "--show-error", "--max-time", "120", ...args],
      { encoding: "buffer", maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = typeof (error as { code?: unknown })?.code === "number"
          ? (error as { code: number }).code
          : error
          ? -1
          : 0;
        resolve({ code, stdout, stderr: stderr.toString() });
      },
    );
  });
}

/** `curl -w '%{http_code}'` with the body discarded: the status as a number. */
async function statusOf(args: string[]): Promise<number> {
  const result = await curl(["--output", "/dev/null", "--write-out", "%{http_code}", ...args]);
  return Number(result.stdout.toString());
}

/** Headers of a response (curl --head or --include), lower-cased names. */
function headersOf(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

let shared: Promise<{ mirror: Mirror; server: RunningFerry; url: string }> | undefined;

/** One server for the read-only checks below, started on first use. */
function sharedServer() {
  shared ??= (async () => {
    const mirror = await makeMirror();
    try {
      const port = await freePort();
      const server = await startFerry(
        ["mirror", "serve", mirror.dir, "--listen", `127.0.0.1:${port}`],
        { readyPattern: READY },
      );
      return { mirror, server, url: `http://127.0.0.1:${port}` };
    } catch (error) {
      await mirror.remove(); // 200 MB: never leave it behind
      throw error;
    }
  })();
  return shared;
}

after(async () => {
  const started = await shared?.catch(() => undefined);
  if (!started) return;
  await started.server.stop();
  await started.mirror.remove();
});

/** Asserts a ferry failure is one clear line on stderr with a non-zero exit. */
function assertOneClearLine(result: { code: number | null; stderr: string }, pattern: RegExp) {
  assert.notEqual(result.code, 0, result.stderr);
  assert.notEqual(result.code, null, "killed instead of exiting");
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^Error: /);
  assert.match(lines[0]!, pattern);
  assert.ok(!/\n\s+at /.test(result.stderr), "stack trace without --debug");
}

// --- serving -----------------------------------------------------------------------------------

test("ferry mirror serve: GET returns the file and logs one access line", E2E_TIMEOUT, async () => {
  const { server, url } = await sharedServer();
  const result = await curl(["--user-agent", "e2e-agent", `${url}/root.json`]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.toString(), '{"signed":{"_type":"root"}}');
  // Bounded wait for the log line to arrive through the pipe.
  for (let i = 0; i < 100 && !server.stdout().includes('"e2e-agent"'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.match(
    server.stdout(),
    /127\.0\.0\.1 - - \[[^\]]+\] "GET \/root\.json" 200 27 "e2e-agent"/,
  );
});

test("ferry mirror serve: HEAD returns the headers and no body", E2E_TIMEOUT, async () => {
  const { url } = await sharedServer();
  const result = await curl(["--head", `${url}/hello-v0.0.1-linux-amd64.tar.gz`]);
  assert.equal(result.code, 0, result.stderr);
  const text = result.stdout.toString();
  assert.match(text, /^HTTP\/1\.1 200/);
  const headers = headersOf(text);
  assert.equal(headers.get("content-length"), "1000");
  assert.equal(headers.get("accept-ranges"), "bytes");
  assert.equal(headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.ok(headers.get("etag"));
  assert.ok(headers.get("last-modified"));
});

test("ferry mirror serve: Range returns 206 with exactly those bytes", E2E_TIMEOUT, async () => {
  const { url } = await sharedServer();
  const result = await curl([
    "--range",
    "10-19",
    "--include",
    `${url}/hello-v0.0.1-linux-amd64.tar.gz`,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const split = result.stdout.indexOf("\r\n\r\n");
  const head = result.stdout.subarray(0, split).toString();
  const body = result.stdout.subarray(split + 4);
  assert.match(head, /^HTTP\/1\.1 206/);
  assert.equal(headersOf(head).get("content-range"), "bytes 10-19/1000");
  assert.deepEqual([...body], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  assert.equal(await statusOf(["--range", "5000-", `${url}/hello-v0.0.1-linux-amd64.tar.gz`]), 416);
});

test("ferry mirror serve: If-None-Match with the ETag answers 304", E2E_TIMEOUT, async () => {
  const { url } = await sharedServer();
  const head = await curl(["--head", `${url}/root.json`]);
  const etag = headersOf(head.stdout.toString()).get("etag");
  assert.ok(etag, head.stdout.toString());
  assert.equal(await statusOf(["--header", `If-None-Match: ${etag}`, `${url}/root.json`]), 304);
  assert.equal(await statusOf(["--header", 'If-None-Match: "other"', `${url}/root.json`]), 200);
});

test(
  "ferry mirror serve: a missing file is 404 and keys/ is never served",
  E2E_TIMEOUT,
  async () => {
    const { url } = await sharedServer();
    assert.equal(await statusOf([`${url}/2.root.json`]), 404);
    const keys = await curl(["--write-out", "%{http_code}", `${url}/keys/root.json`]);
    assert.ok(keys.stdout.toString().endsWith("404"));
    assert.ok(!keys.stdout.toString().includes(SECRET));
  },
);

test("ferry mirror serve: POST is refused with 405", E2E_TIMEOUT, async () => {
  const { url } = await sharedServer();
  assert.equal(await statusOf(["--data", "x", `${url}/root.json`]), 405);
});

for (
  const path of [
    "/../secret.txt",
    "/../../../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/..%2fsecret.txt",
    "/..%5csecret.txt",
    "/root.json%00",
    "/keys/../keys/root.json",
  ]
) {
  test(`ferry mirror serve: refuses traversal ${path} sent as-is`, E2E_TIMEOUT, async () => {
    const { url } = await sharedServer();
    const result = await curl(["--path-as-is", "--write-out", "\n%{http_code}", `${url}${path}`]);
    const text = result.stdout.toString();
    const status = Number(text.slice(text.lastIndexOf("\n") + 1));
    assert.ok(status === 400 || status === 404, `${path}: ${status}`);
    assert.ok(!text.includes(SECRET), `${path} leaked the secret`);
    assert.ok(!text.includes("root:x:0"), `${path} leaked /etc/passwd`);
  });
}

test("ferry mirror serve: a 200 MB file arrives intact", E2E_TIMEOUT, async () => {
  const { mirror, url } = await sharedServer();
  const hash = createHash("sha256");
  let bytes = 0;
  const child = spawn("curl", ["--silent", "--fail", "--max-time", "120", `${url}/big.tar.gz`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0);
  assert.equal(bytes, BIG_BYTES);
  assert.equal(hash.digest("hex"), mirror.bigSha256);
});

test("ferry mirror serve: a Range deep inside the 200 MB file is exact", E2E_TIMEOUT, async () => {
  const { mirror, url } = await sharedServer();
  const start = BIG_BYTES - 1_000_000;
  const result = await curl(["--range", `${start}-${start + 99}`, `${url}/big.tar.gz`]);
  const handle = await fs.open(nodePath.join(mirror.dir, "big.tar.gz"), "r");
  const expected = Buffer.alloc(100);
  await handle.read(expected, 0, 100, start);
  await handle.close();
  assert.deepEqual(result.stdout, expected);
});

// --- TLS ---------------------------------------------------------------------------------------

function makeCertificate(dir: string) {
  const cert = nodePath.join(dir, "cert.pem");
  const key = nodePath.join(dir, "key.pem");
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], { stdio: "ignore" });
  return { cert, key };
}

test("ferry mirror serve: serves HTTPS with --tls-cert and --tls-key", E2E_TIMEOUT, async () => {
  const temp = await makeTempDir("ferry-e2e-tls");
  try {
    const { cert, key } = makeCertificate(temp.dir);
    const mirror = nodePath.join(temp.dir, "mirror");
    await fs.mkdir(mirror);
    await fs.writeFile(nodePath.join(mirror, "root.json"), "{}");
    const port = await freePort();
    const server = await startFerry(
      [
        "mirror",
        "serve",
        mirror,
        "--listen",
        `127.0.0.1:${port}`,
        "--tls-cert",
        cert,
        "--tls-key",
        key,
      ],
      { readyPattern: READY },
    );
    try {
      assert.equal(server.ready?.[1], `https://127.0.0.1:${port}`);
      const ok = await curl(["--cacert", cert, `https://127.0.0.1:${port}/root.json`]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.toString(), "{}");
      // Without the CA the certificate is (rightly) not trusted: this really is TLS.
      const untrusted = await curl([`https://127.0.0.1:${port}/root.json`]);
      assert.equal(untrusted.code, 60, untrusted.stderr);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  } finally {
    await temp.remove();
  }
});

// --- lifecycle ---------------------------------------------------------------------------------

test("ferry mirror serve: SIGTERM stops it cleanly with exit 0", E2E_TIMEOUT, async () => {
  const temp = await makeTempDir("ferry-e2e-sigterm");
  try {
    const port = await freePort();
    const server = await startFerry(
      ["mirror", "serve", temp.dir, "--listen", `127.0.0.1:${port}`],
      { readyPattern: READY },
    );
    assert.equal(await statusOf([`http://127.0.0.1:${port}/_ferry/health`]), 200);
    const exit = await server.stop();
    assert.equal(exit.code, 0, server.stderr());
    assert.match(server.stderr(), /Stopping/);
    // The port is free again.
    assert.notEqual(await statusOf([`http://127.0.0.1:${port}/`]), 200);
  } finally {
    await temp.remove();
  }
});

test(
  "ferry mirror serve: without DIR serves the demo mirror under FERRY_HOME",
  E2E_TIMEOUT,
  async () => {
    const temp = await makeTempDir("ferry-e2e-demo");
    try {
      const port = await freePort();
      const server = await startFerry(
        ["mirror", "serve", "--listen", `127.0.0.1:${port}`],
        { readyPattern: READY, env: { FERRY_HOME: temp.dir, TIUP_HOME: undefined } },
      );
      try {
        assert.match(server.stderr(), new RegExp(`Serving ${temp.dir}/demo-mirror at`));
        assert.equal(await statusOf([`http://127.0.0.1:${port}/`]), 200);
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
    } finally {
      await temp.remove();
    }
  },
);

// --- bad input: one clear line, non-zero exit ----------------------------------------------------

test(
  "ferry mirror serve: an unknown flag suggests the right one (exit 2)",
  E2E_TIMEOUT,
  async () => {
    const result = await runFerry(["mirror", "serve", ".", "--lisen", "127.0.0.1:1"]);
    assert.equal(result.code, 2);
    assertOneClearLine(result, /Unknown flag "--lisen".*did you mean "--listen"/);
  },
);

test("ferry mirror serve: a missing directory is refused (exit 2)", E2E_TIMEOUT, async () => {
  const result = await runFerry(["mirror", "serve", "/nonexistent/ferry-mirror"]);
  assert.equal(result.code, 2);
  assertOneClearLine(result, /Cannot serve "\/nonexistent\/ferry-mirror": no such directory/);
});

test(
  "ferry mirror serve: a file instead of a directory is refused (exit 2)",
  E2E_TIMEOUT,
  async () => {
    const temp = await makeTempDir("ferry-e2e-file");
    try {
      const file = nodePath.join(temp.dir, "root.json");
      await fs.writeFile(file, "{}");
      const result = await runFerry(["mirror", "serve", file]);
      assert.equal(result.code, 2);
      assertOneClearLine(result, /it is not a directory/);
    } finally {
      await temp.remove();
    }
  },
);

test("ferry mirror serve: a port in use is one clear line (exit 1)", E2E_TIMEOUT, async () => {
  const temp = await makeTempDir("ferry-e2e-busy");
  const blocker = createServer();
  try {
    const port = await new Promise<number>((resolve, reject) => {
      blocker.on("error", reject);
      blocker.listen(0, "127.0.0.1", () => {
        const address = blocker.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
    const result = await runFerry(["mirror", "serve", temp.dir, "--listen", `127.0.0.1:${port}`]);
    assert.equal(result.code, 1);
    assertOneClearLine(result, new RegExp(`127\\.0\\.0\\.1:${port}.*already in use`));
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
    await temp.remove();
  }
});

test(
  "ferry mirror serve: a port another ferry serves is one clear line (exit 1)",
  E2E_TIMEOUT,
  async () => {
    const temp = await makeTempDir("ferry-e2e-busy-ferry");
    const port = await freePort();
    const args = ["mirror", "serve", temp.dir, "--listen", `127.0.0.1:${port}`];
    // On Bun (the binary's runtime) too: a server there once shared the port (SO_REUSEPORT).
    const first = await startFerry(args, { fromSourceOn: "bun", readyPattern: READY });
    try {
      const second = await runFerry(args, { fromSourceOn: "bun", timeoutMs: 30_000 });
      assert.equal(second.code, 1, second.stdout);
      assertOneClearLine(second, new RegExp(`127\\.0\\.0\\.1:${port}.*already in use`));
    } finally {
      await first.stop();
      await temp.remove();
    }
  },
);

test("ferry mirror serve: a bad --listen value is refused (exit 2)", E2E_TIMEOUT, async () => {
  const result = await runFerry(["mirror", "serve", ".", "--listen", "127.0.0.1:99999"]);
  assert.equal(result.code, 2);
  assertOneClearLine(result, /--listen "127\.0\.0\.1:99999".*above 65535/);
});

test(
  "ferry mirror serve: --tls-cert without --tls-key is refused (exit 2)",
  E2E_TIMEOUT,
  async () => {
    const temp = await makeTempDir("ferry-e2e-tls-half");
    try {
      const { cert } = makeCertificate(temp.dir);
      const result = await runFerry(["mirror", "serve", temp.dir, "--tls-cert", cert]);
      assert.equal(result.code, 2);
      assertOneClearLine(result, /--tls-cert and --tls-key go together/);
    } finally {
      await temp.remove();
    }
  },
);

test(
  "ferry mirror serve: garbage or unreadable TLS files are refused (exit 2)",
  E2E_TIMEOUT,
  async () => {
    const temp = await makeTempDir("ferry-e2e-tls-bad");
    try {
      const { cert, key } = makeCertificate(temp.dir);
      const garbage = nodePath.join(temp.dir, "garbage.pem");
      await fs.writeFile(garbage, "this is not PEM\n");
      const missing = nodePath.join(temp.dir, "missing.pem");
      const cases: Array<[string, string, RegExp]> = [
        [garbage, key, /TLS certificate .*not a PEM certificate/],
        [cert, garbage, /TLS key .*not a PEM private key/],
        [missing, key, /Cannot read the TLS certificate .*missing\.pem/],
        [cert, temp.dir, /Cannot read the TLS key/],
      ];
      for (const [certArg, keyArg, pattern] of cases) {
        const result = await runFerry([
          "mirror",
          "serve",
          temp.dir,
          "--listen",
          "127.0.0.1:0",
          "--tls-cert",
          certArg,
          "--tls-key",
          keyArg,
        ]);
        assert.equal(result.code, 2, `${certArg} ${keyArg}: ${result.stderr}`);
        assertOneClearLine(result, pattern);
      }
    } finally {
      await temp.remove();
    }
  },
);

// --- mTLS (--client-ca) ------------------------------------------------------------------------

test(
  "ferry mirror serve --client-ca: a client without a CA-signed certificate is not served",
  E2E_TIMEOUT,
  async () => {
    const temp = await makeTempDir("ferry-e2e-client-ca");
    try {
      const file = makeClientCaCertificates(temp.dir);
      const mirror = nodePath.join(temp.dir, "mirror");
      await fs.mkdir(mirror);
      await fs.writeFile(nodePath.join(mirror, "root.json"), "{}");
      const port = await freePort();
      const args = [
        "mirror",
        "serve",
        mirror,
        "--listen",
        `127.0.0.1:${port}`,
        "--publish",
        "--tls-cert",
        file("server.pem"),
        "--tls-key",
        file("server.key"),
        "--client-ca",
        file("ca.pem"),
      ];
      if (!usingBinary()) {
        // From source the server runs on Deno, whose Deno.serve cannot ask for a certificate.
        const refused = await runFerry(args);
        assert.notEqual(refused.code, 0, refused.stderr);
        assertOneClearLine(refused, /client certificates needs the Bun runtime/);
        return;
      }
      const server = await startFerry(args, { readyPattern: READY });
      try {
        const url = `https://127.0.0.1:${port}`;
        const withCert = [
          "--cacert",
          file("ca.pem"),
          "--cert",
          file("client.pem"),
          "--key",
          file("client.key"),
        ];
        const read = await curl([...withCert, `${url}/root.json`]);
        assert.equal(read.code, 0, read.stderr);
        assert.equal(read.stdout.toString(), "{}");
        const write = await curl([...withCert, "-X", "POST", `${url}/api/v1/rotate`, "-d", "{}"]);
        assert.equal(write.code, 0, write.stderr);
        assert.match(write.stdout.toString(), /"status"/); // reached the API (a TiUP-style refusal)
        const anonymousRead = await curl(["--cacert", file("ca.pem"), `${url}/root.json`]);
        assert.notEqual(anonymousRead.code, 0, "a read without a client certificate was served");
        const anonymousWrite = await curl([
          "--cacert",
          file("ca.pem"),
          "-X",
          "POST",
          `${url}/api/v1/rotate`,
          "-d",
          "{}",
        ]);
        assert.notEqual(anonymousWrite.code, 0, "a write without a client certificate was served");
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
    } finally {
      await temp.remove();
    }
  },
);

test(
  "ferry mirror serve: --client-ca without --tls-cert is refused (exit 2)",
  E2E_TIMEOUT,
  async () => {
    const temp = await makeTempDir("ferry-e2e-client-ca-alone");
    try {
      const file = makeClientCaCertificates(temp.dir);
      const result = await runFerry(["mirror", "serve", temp.dir, "--client-ca", file("ca.pem")]);
      assert.equal(result.code, 2);
      assertOneClearLine(result, /--client-ca without --tls-cert/);
    } finally {
      await temp.remove();
    }
  },
);
