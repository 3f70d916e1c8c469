import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import type { AccessRecord } from "../../lib/server/access_log.ts";
import { createMirrorServer, type MirrorServerOptions } from "../../lib/server/mirror_server.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import type { StorageReader } from "../../lib/storage/storage.ts";

const SECRET = "-----BEGIN PRIVATE KEY----- do not serve";
const BIG_SIZE = 3 * 1024 * 1024 + 17;

function pattern(length: number, seed = 0): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 13 + seed) & 0xff;
  return bytes;
}

/**
 * A mirror directory with the files a TiUP mirror has, the private files it must never serve,
 * and a secret beside it that symlinks inside try to reach.
 */
async function mirrorFixture(options: MirrorServerOptions = {}) {
  const base = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-server-"));
  const root = nodePath.join(base, "mirror");
  const files: Record<string, string | Uint8Array> = {
    "root.json": '{"signed":{"_type":"root"}}',
    "1.root.json": '{"signed":{"version":1}}',
    "snapshot.json": '{"signed":{"_type":"snapshot"}}',
    "timestamp.json": '{"signed":{"_type":"timestamp"}}',
    "1.index.json": '{"signed":{"_type":"index"}}',
    "3.tidb.json": '{"signed":{"id":"tidb"}}',
    "tidb-v7.5.0-linux-amd64.tar.gz": pattern(1000),
    "tiup-linux-amd64.tar.gz": pattern(500, 1),
    "install.sh": "#!/bin/sh\necho install\n",
    "notes.txt": "hello\n",
    "blob.bin": pattern(20),
    "empty.json": "",
    "big.tar.gz": pattern(BIG_SIZE, 7),
    "%2e%2e": "a file literally named %2e%2e",
    "keys/abc-root.json": SECRET,
    ".hidden": SECRET,
    ".ferry-tmp-0123456789abcdef": SECRET,
    "lock": SECRET,
    "bin/.git/config": SECRET,
    "bin/tidb-v7.5.0-linux-amd64.tar.gz": pattern(1000),
  };
  for (const [path, data] of Object.entries(files)) {
    await fs.mkdir(nodePath.dirname(nodePath.join(root, path)), { recursive: true });
    await fs.writeFile(nodePath.join(root, path), data);
  }
  await fs.writeFile(nodePath.join(base, "secret.txt"), SECRET);
  await fs.symlink(nodePath.join(base, "secret.txt"), nodePath.join(root, "escape.json"));
  await fs.symlink(base, nodePath.join(root, "up"));
  const storage = new LocalStorage(root);
  const app = createMirrorServer(storage, options);
  return {
    app,
    root,
    storage,
    remove: () => fs.rm(base, { recursive: true, force: true }),
  };
}

type Fixture = Awaited<ReturnType<typeof mirrorFixture>>;

function serverTest(
  name: string,
  body: (f: Fixture) => Promise<void>,
  options: MirrorServerOptions = {},
) {
  test(`createMirrorServer() ${name}`, async () => {
    const fixture = await mirrorFixture(options);
    try {
      await body(fixture);
    } finally {
      await fixture.remove();
    }
  });
}

async function bytesOf(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

// --- GET and HEAD ------------------------------------------------------------------------------

serverTest("serves a file with its length, type, validators and cache policy", async ({ app }) => {
  const response = await app.request("/root.json");
  assert.equal(response.status, 200);
  assert.equal(await response.text(), '{"signed":{"_type":"root"}}');
  assert.equal(response.headers.get("content-length"), "27");
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("accept-ranges"), "bytes");
  assert.match(response.headers.get("etag") ?? "", /^"[0-9a-f]+-[0-9a-f]+"$/);
  assert.ok(response.headers.get("last-modified"));
});

serverTest("serves a file larger than the memory cache byte for byte", async ({ app }) => {
  const response = await app.request("/big.tar.gz");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-length"), String(BIG_SIZE));
  assert.deepEqual(await bytesOf(response), pattern(BIG_SIZE, 7));
});

serverTest("serves an empty file as 200 with length 0", async ({ app }) => {
  const response = await app.request("/empty.json");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-length"), "0");
  assert.equal((await bytesOf(response)).length, 0);
});

serverTest("HEAD answers the GET headers with no body", async ({ app }) => {
  for (const path of ["/tidb-v7.5.0-linux-amd64.tar.gz", "/big.tar.gz", "/root.json"]) {
    const get = await app.request(path);
    await get.arrayBuffer();
    const head = await app.request(path, { method: "HEAD" });
    assert.equal(head.status, 200);
    for (
      const name of ["content-length", "content-type", "etag", "last-modified", "cache-control"]
    ) {
      assert.equal(head.headers.get(name), get.headers.get(name), `${path} ${name}`);
    }
    assert.equal((await bytesOf(head)).length, 0);
  }
});

serverTest("Last-Modified is the file's modification time", async ({ app, root }) => {
  const when = new Date("2024-03-04T05:06:07Z");
  await fs.utimes(nodePath.join(root, "notes.txt"), when, when);
  const response = await app.request("/notes.txt");
  assert.equal(response.headers.get("last-modified"), "Mon, 04 Mar 2024 05:06:07 GMT");
});

serverTest("Content-Type follows the file name", async ({ app }) => {
  const expected: Record<string, string> = {
    "/root.json": "application/json",
    "/tidb-v7.5.0-linux-amd64.tar.gz": "application/gzip",
    "/install.sh": "text/x-shellscript; charset=utf-8",
    "/notes.txt": "text/plain; charset=utf-8",
    "/blob.bin": "application/octet-stream",
  };
  for (const [path, type] of Object.entries(expected)) {
    const response = await app.request(path);
    await response.arrayBuffer();
    assert.equal(response.headers.get("content-type"), type, path);
  }
});

serverTest("ignores the query string (TiUP's install script appends ?date)", async ({ app }) => {
  const plain = await (await app.request("/root.json")).text();
  for (const path of ["/root.json?1700000000", "/root.json?a=b&c=../../x", "/root.json?"]) {
    const response = await app.request(path);
    assert.equal(response.status, 200, path);
    assert.equal(await response.text(), plain);
  }
});

serverTest("answers / with a short text saying how to use the mirror", async (f) => {
  const response = await f.app.request("/");
  assert.equal(response.status, 200);
  const body = await response.text();
  assert.match(body, /ferry mirror set http:\/\/localhost/);
  assert.match(
    body,
    /curl -fsSL http:\/\/localhost\/install\.sh \| FERRY_MIRROR=http:\/\/localhost sh/,
  );
  await fs.rm(nodePath.join(f.root, "install.sh"));
  const without = await (await f.app.request("/")).text();
  assert.doesNotMatch(without, /install\.sh/, "no installer line when the mirror has none");
});

// --- Range -------------------------------------------------------------------------------------

const TARBALL = "/tidb-v7.5.0-linux-amd64.tar.gz";

async function rangeRequest(f: Fixture, range: string, path = TARBALL, method = "GET") {
  return await f.app.request(path, { method, headers: { range } });
}

serverTest("Range start-end answers 206 with exactly those bytes", async (f) => {
  const response = await rangeRequest(f, "bytes=10-19");
  assert.equal(response.status, 206);
  assert.equal(response.headers.get("content-range"), "bytes 10-19/1000");
  assert.equal(response.headers.get("content-length"), "10");
  assert.deepEqual(await bytesOf(response), pattern(1000).slice(10, 20));
});

serverTest("Range open-ended (bytes=N-) answers from N to the end", async (f) => {
  const response = await rangeRequest(f, "bytes=990-");
  assert.equal(response.status, 206);
  assert.equal(response.headers.get("content-range"), "bytes 990-999/1000");
  assert.deepEqual(await bytesOf(response), pattern(1000).slice(990));
});

serverTest("Range suffix (bytes=-N) answers the last N bytes", async (f) => {
  const response = await rangeRequest(f, "bytes=-5");
  assert.equal(response.status, 206);
  assert.equal(response.headers.get("content-range"), "bytes 995-999/1000");
  assert.deepEqual(await bytesOf(response), pattern(1000).slice(995));
  const whole = await rangeRequest(f, "bytes=-5000");
  assert.equal(whole.headers.get("content-range"), "bytes 0-999/1000");
  assert.equal((await bytesOf(whole)).length, 1000);
});

serverTest("Range past the end is clamped to the last byte", async (f) => {
  const response = await rangeRequest(f, "bytes=900-5000");
  assert.equal(response.status, 206);
  assert.equal(response.headers.get("content-range"), "bytes 900-999/1000");
  assert.equal((await bytesOf(response)).length, 100);
});

serverTest(
  "Range with a 20-digit end answers 206 for the whole file (RFC 9110 clamp)",
  async (f) => {
    const response = await rangeRequest(f, "bytes=0-99999999999999999999");
    assert.equal(response.status, 206);
    assert.equal(response.headers.get("content-range"), "bytes 0-999/1000");
    assert.deepEqual(await bytesOf(response), pattern(1000));
  },
);

serverTest("Range on a file larger than the memory cache is streamed", async (f) => {
  const start = BIG_SIZE - 300_000;
  const response = await rangeRequest(f, `bytes=${start}-`, "/big.tar.gz");
  assert.equal(response.status, 206);
  assert.equal(response.headers.get("content-range"), `bytes ${start}-${BIG_SIZE - 1}/${BIG_SIZE}`);
  assert.deepEqual(await bytesOf(response), pattern(BIG_SIZE, 7).slice(start));
});

serverTest("unsatisfiable Range answers 416 with Content-Range bytes */size", async (f) => {
  for (const range of ["bytes=1000-", "bytes=5000-6000", "bytes=-0"]) {
    const response = await rangeRequest(f, range);
    assert.equal(response.status, 416, range);
    assert.equal(response.headers.get("content-range"), "bytes */1000", range);
    await response.arrayBuffer();
  }
  const empty = await rangeRequest(f, "bytes=0-", "/empty.json");
  assert.equal(empty.status, 416);
  assert.equal(empty.headers.get("content-range"), "bytes */0");
});

serverTest("a multi-range request is ignored: 200 and the whole file", async (f) => {
  const response = await rangeRequest(f, "bytes=0-1,5-6");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-range"), null);
  assert.equal((await bytesOf(response)).length, 1000);
});

serverTest("a malformed Range is ignored: 200 and the whole file", async (f) => {
  for (const range of ["bytes=abc", "lines=0-5", "bytes=5-2", "bytes=-", "bytes 0-5"]) {
    const response = await rangeRequest(f, range);
    assert.equal(response.status, 200, range);
    assert.equal((await bytesOf(response)).length, 1000, range);
  }
});

serverTest("HEAD with Range answers 206 headers and no body", async (f) => {
  const response = await rangeRequest(f, "bytes=0-99", TARBALL, "HEAD");
  assert.equal(response.status, 206);
  assert.equal(response.headers.get("content-length"), "100");
  assert.equal(response.headers.get("content-range"), "bytes 0-99/1000");
  assert.equal((await bytesOf(response)).length, 0);
});

serverTest("If-Range with the current ETag honours the Range", async (f) => {
  const etag = (await f.app.request(TARBALL, { method: "HEAD" })).headers.get("etag")!;
  const response = await f.app.request(TARBALL, {
    headers: { range: "bytes=0-9", "if-range": etag },
  });
  assert.equal(response.status, 206);
  assert.equal((await bytesOf(response)).length, 10);
});

serverTest("If-Range with a stale validator sends the whole file", async (f) => {
  for (const ifRange of ['"0-0"', 'W/"stale"', "Mon, 01 Jan 2001 00:00:00 GMT"]) {
    const response = await f.app.request(TARBALL, {
      headers: { range: "bytes=0-9", "if-range": ifRange },
    });
    assert.equal(response.status, 200, ifRange);
    assert.equal((await bytesOf(response)).length, 1000, ifRange);
  }
});

// --- Conditional requests ----------------------------------------------------------------------

serverTest("If-None-Match with the current ETag answers 304 with no body", async ({ app }) => {
  const first = await app.request("/snapshot.json");
  await first.arrayBuffer();
  const etag = first.headers.get("etag")!;
  for (const value of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
    const response = await app.request("/snapshot.json", { headers: { "if-none-match": value } });
    assert.equal(response.status, 304, value);
    assert.equal(response.headers.get("etag"), etag);
    assert.equal((await bytesOf(response)).length, 0);
  }
  const changed = await app.request("/snapshot.json", { headers: { "if-none-match": '"nope"' } });
  assert.equal(changed.status, 200);
  await changed.arrayBuffer();
});

serverTest("If-Modified-Since answers 304 when the file is not newer", async ({ app, root }) => {
  const when = new Date("2024-03-04T05:06:07Z");
  await fs.utimes(nodePath.join(root, "timestamp.json"), when, when);
  const cases: Array<[string, number]> = [
    ["Mon, 04 Mar 2024 05:06:07 GMT", 304],
    ["Tue, 05 Mar 2024 00:00:00 GMT", 304],
    ["Sun, 03 Mar 2024 00:00:00 GMT", 200],
    ["not a date", 200],
  ];
  for (const [since, status] of cases) {
    const response = await app.request("/timestamp.json", {
      headers: { "if-modified-since": since },
    });
    assert.equal(response.status, status, since);
    await response.arrayBuffer();
  }
});

serverTest("If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)", async ({ app }) => {
  const response = await app.request("/timestamp.json", {
    headers: { "if-none-match": '"nope"', "if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT" },
  });
  assert.equal(response.status, 200);
  await response.arrayBuffer();
});

serverTest("a manifest replaced in place is never served stale from memory", async (f) => {
  // timestamp.json is rewritten in place on every publish; a same-size rewrite within the same
  // second must still be seen (the memory cache and the ETag must not hide it).
  const path = nodePath.join(f.root, "timestamp.json");
  await fs.writeFile(path, '{"version":1}');
  await fs.utimes(path, new Date(1_700_000_000_100), new Date(1_700_000_000_100));
  const first = await f.app.request("/timestamp.json");
  assert.equal(await first.text(), '{"version":1}');
  await fs.writeFile(path, '{"version":2}');
  await fs.utimes(path, new Date(1_700_000_000_600), new Date(1_700_000_000_600));
  const second = await f.app.request("/timestamp.json");
  assert.equal(await second.text(), '{"version":2}');
  assert.notEqual(second.headers.get("etag"), first.headers.get("etag"));
  const revalidated = await f.app.request("/timestamp.json", {
    headers: { "if-none-match": first.headers.get("etag")! },
  });
  assert.equal(revalidated.status, 200);
  assert.equal(await revalidated.text(), '{"version":2}');
});

serverTest("a hot manifest answered from memory is the same answer as the first", async (f) => {
  const first = await f.app.request("/1.index.json");
  const firstBody = await first.text();
  for (let i = 0; i < 3; i++) {
    const again = await f.app.request("/1.index.json");
    assert.equal(again.status, 200);
    assert.equal(await again.text(), firstBody);
    assert.deepEqual([...again.headers], [...first.headers]);
  }
});

serverTest("a hot manifest swapped for a symlink out of the mirror is refused", async (f) => {
  // symlink attack on the in-memory hot path: the file was served (and kept in memory), then
  // replaced by a link to a file outside the mirror with the same size and mtime.
  const inside = nodePath.join(f.root, "snapshot.json");
  await (await f.app.request("/snapshot.json")).arrayBuffer();
  await (await f.app.request("/snapshot.json")).arrayBuffer();
  const outside = nodePath.join(f.root, "..", "outside.json");
  const info = await fs.stat(inside);
  await fs.copyFile(inside, outside);
  await fs.utimes(outside, info.atime, info.mtime);
  await fs.rm(inside);
  await fs.symlink(outside, inside);
  const response = await f.app.request("/snapshot.json");
  assert.equal(response.status, 400);
  await response.arrayBuffer();
});

// --- Cache-Control -----------------------------------------------------------------------------

serverTest("versioned manifests and tarballs are cacheable forever", async ({ app }) => {
  for (
    const path of ["/1.root.json", "/1.index.json", "/3.tidb.json", TARBALL, `/bin${TARBALL}`]
  ) {
    const response = await app.request(path);
    await response.arrayBuffer();
    assert.equal(
      response.headers.get("cache-control"),
      "public, max-age=31536000, immutable",
      path,
    );
  }
});

serverTest("mutable top-level files must be revalidated (no-cache)", async ({ app }) => {
  for (
    const path of [
      "/root.json",
      "/snapshot.json",
      "/timestamp.json",
      "/tiup-linux-amd64.tar.gz",
      "/install.sh",
    ]
  ) {
    const response = await app.request(path);
    await response.arrayBuffer();
    assert.equal(response.headers.get("cache-control"), "no-cache", path);
  }
});

// --- Missing and private files -----------------------------------------------------------------

serverTest(
  "a missing file is 404, never 403 (TiUP stops its root walk on 404)",
  async ({ app }) => {
    for (const path of ["/2.root.json", "/no/such/file.json", "/bin", "/bin/", "/keys/"]) {
      const response = await app.request(path);
      assert.equal(response.status, 404, path);
      await response.arrayBuffer();
    }
  },
);

serverTest("never serves the private keys/ directory", async ({ app }) => {
  for (const path of ["/keys/abc-root.json", "/keys", "/k%65ys/abc-root.json"]) {
    const response = await app.request(path);
    assert.equal(response.status, 404, path);
    assert.ok(!(await response.text()).includes(SECRET), path);
  }
});

serverTest("never serves dotfiles, temp files of a killed writer, or the lock", async ({ app }) => {
  for (
    const path of [
      "/.hidden",
      "/.ferry-tmp-0123456789abcdef",
      "/lock",
      "/bin/.git/config",
      "/%2ehidden",
    ]
  ) {
    const response = await app.request(path);
    assert.equal(response.status, 404, path);
    assert.ok(!(await response.text()).includes(SECRET), path);
  }
});

serverTest(
  "never serves private keys or the lock through symlinks inside the mirror (self -> ., pubkeys -> keys)",
  async ({ app, root }) => {
    await fs.symlink(".", nodePath.join(root, "self"));
    await fs.symlink("keys", nodePath.join(root, "pubkeys"));
    await fs.symlink("keys/abc-root.json", nodePath.join(root, "rootkey.json"));
    await fs.symlink("bin/.git/config", nodePath.join(root, "config.json"));
    const paths = [
      "/self/keys/abc-root.json",
      "/self/self/keys/abc-root.json",
      "/self/lock",
      "/pubkeys/abc-root.json",
      "/rootkey.json",
      "/config.json",
    ];
    for (const path of paths) {
      // Twice, and with a Range and as HEAD: the memory cache and the hot path must not be a
      // way around the rule either.
      for (const init of [{}, {}, { headers: { range: "bytes=0-9" } }, { method: "HEAD" }]) {
        const response = await app.request(path, init);
        assert.equal(response.status, 404, `${path} ${JSON.stringify(init)}`);
        assert.ok(!(await response.text()).includes(SECRET), path);
      }
    }
    const through = await app.request("/self/timestamp.json");
    assert.equal(through.status, 200);
    assert.equal(await through.text(), '{"signed":{"_type":"timestamp"}}');
  },
);

serverTest(
  "a hot manifest swapped for a symlink to a private key is refused (hot path)",
  async ({ app, root }) => {
    const inside = nodePath.join(root, "snapshot.json");
    const key = nodePath.join(root, "keys", "abc-root.json");
    await (await app.request("/snapshot.json")).arrayBuffer();
    await (await app.request("/snapshot.json")).arrayBuffer();
    // Same size and mtime as the cached file, so only the resolved path tells them apart.
    await fs.writeFile(key, '{"signed":{"_type":"snapshot"}}'.replace("snapshot", "SECRETS!"));
    const info = await fs.stat(inside);
    await fs.utimes(key, info.atime, info.mtime);
    await fs.rm(inside);
    await fs.symlink(key, inside);
    const response = await app.request("/snapshot.json");
    assert.equal(response.status, 404);
    assert.ok(!(await response.text()).includes("SECRETS!"));
  },
);

// --- Attacks -----------------------------------------------------------------------------------

const TRAVERSALS: Array<[string, string]> = [
  ["dot-dot", "/../secret.txt"],
  ["dot-dot inside a path", "/bin/../../secret.txt"],
  ["encoded dot-dot %2e%2e", "/%2e%2e/secret.txt"],
  ["upper-case encoded %2E%2E%2F", "/%2E%2E%2Fsecret.txt"],
  ["dot-dot with encoded slash ..%2f", "/..%2fsecret.txt"],
  ["encoded dot-dot and slash", "/bin/%2e%2e%2f%2e%2e%2fsecret.txt"],
  ["encoded backslash %5c", "/..%5csecret.txt"],
  ["raw backslash", "/..\\secret.txt"],
  ["encoded NUL %00", "/root.json%00.png"],
  ["encoded newline", "/root.json%0a"],
  ["invalid percent-encoding", "/%E0%A4%A.json"],
  ["symlink to a file outside", "/escape.json"],
  ["symlinked directory to outside", "/up/secret.txt"],
  ["double slash to an absolute path", "//etc/passwd"],
];

for (const [attack, path] of TRAVERSALS) {
  serverTest(`refuses path traversal by ${attack}`, async ({ app }) => {
    const response = await app.request(path);
    const body = await response.text();
    assert.ok(response.status === 400 || response.status === 404, `${path}: ${response.status}`);
    assert.ok(!body.includes(SECRET), `${path} leaked the secret`);
    assert.ok(!body.includes("root:"), `${path} leaked /etc/passwd`);
  });
}

serverTest("refuses encoded traversal with 400 before it reaches storage", async ({ app }) => {
  for (
    const path of ["/%2E%2E%2Fsecret.txt", "/..%2fsecret.txt", "/..%5csecret.txt", "/a%00b"]
  ) {
    const response = await app.request(path);
    assert.equal(response.status, 400, path);
    await response.arrayBuffer();
  }
});

serverTest("double-encoded %252e%252e is a literal name, harmless", async ({ app }) => {
  const response = await app.request("/%252e%252e");
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "a file literally named %2e%2e");
  const escape = await app.request("/%252e%252e/secret.txt");
  assert.equal(escape.status, 404);
  await escape.arrayBuffer();
});

serverTest("refuses over-long paths without touching storage", async ({ app }) => {
  const long = await app.request(`/${"a/".repeat(700)}x.json`);
  assert.equal(long.status, 414);
  await long.arrayBuffer();
  const longEncoded = await app.request(`/${"%61".repeat(1100)}`);
  assert.equal(longEncoded.status, 414);
  await longEncoded.arrayBuffer();
  const segment = await app.request(`/${"s".repeat(300)}.json`);
  assert.equal(segment.status, 400);
  await segment.arrayBuffer();
});

serverTest("POST, PUT, DELETE and others answer 405 with Allow: GET, HEAD", async ({ app }) => {
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    const response = await app.request("/root.json", {
      method,
      ...(method === "POST" || method === "PUT" ? { body: "x" } : {}),
    });
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
    await response.arrayBuffer();
  }
});

test("createMirrorServer() refuses a file whose link was swapped to a key between stat and read", async () => {
  // The race a symlink swap opens: stat saw a public file, the read resolves into keys/.
  const stat = { path: "rootkey.json", size: SECRET.length, modified: new Date(0) };
  const swapped: StorageReader = {
    location: "swapped:",
    stat: () => Promise.resolve(stat),
    read: () =>
      Promise.resolve({
        stat: { ...stat, resolvedPath: "keys/abc-root.json" },
        body: new Blob([SECRET]).stream(),
      }),
  };
  for (const options of [{}, { memoryCacheFileBytes: 0 }]) {
    const response = await createMirrorServer(swapped, options).request("/rootkey.json");
    assert.equal(response.status, 404);
    assert.ok(!(await response.text()).includes(SECRET));
  }
});

test("createMirrorServer() hides internal error details behind a 500", async () => {
  const broken: StorageReader = {
    location: "broken:",
    stat: () => Promise.reject(new Error("disk exploded at /srv/secret/path")),
    read: () => Promise.reject(new Error("unreachable")),
  };
  const response = await createMirrorServer(broken).request("/root.json");
  assert.equal(response.status, 500);
  assert.ok(!(await response.text()).includes("/srv/secret"));
});

// --- Health and access log ---------------------------------------------------------------------

serverTest("answers the health path without looking in storage", async ({ app }) => {
  const response = await app.request("/_ferry/health");
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: "ok" });
});

test("createMirrorServer() takes a custom health path", async () => {
  const app = createMirrorServer(
    { location: "x", stat: () => Promise.reject(new Error()) } as unknown as StorageReader,
    { healthPath: "/healthz" },
  );
  const response = await app.request("/healthz");
  assert.equal(response.status, 200);
  await response.arrayBuffer();
});

{
  const lines: Array<{ line: string; record: AccessRecord }> = [];
  serverTest(
    "logs one access line per request, nginx combined style",
    async ({ app }) => {
      lines.length = 0;
      const response = await app.request("/root.json?x=1", {
        headers: { "user-agent": "tiup/1.16" },
      }, { remoteAddress: "10.1.2.3" });
      await response.arrayBuffer();
      const missing = await app.request("/nope.json", {}, { remoteAddress: "10.1.2.3" });
      await missing.arrayBuffer();
      assert.equal(lines.length, 2);
      assert.match(
        lines[0]!.line,
        /^10\.1\.2\.3 - - \[2024-01-02T03:04:05\.000Z\] "GET \/root\.json" 200 27 "tiup\/1\.16" \d+\.\d{3}$/,
      );
      assert.equal(lines[0]!.record.status, 200);
      assert.match(lines[1]!.line, /"GET \/nope\.json" 404 /);
    },
    {
      now: () => new Date("2024-01-02T03:04:05Z"),
      onAccess: (line, record) => lines.push({ line, record }),
    },
  );
}

{
  const lines: string[] = [];
  serverTest(
    "the access log cannot be forged with newlines or quotes (log injection)",
    async ({ app }) => {
      lines.length = 0;
      const response = await app.request('/a%0a"b".json', {
        // Headers cannot carry a newline; quotes and backslashes can. (formatAccessLine's own
        // test covers newlines.)
        headers: { "user-agent": 'evil" 200 0 "x\\' },
      });
      await response.arrayBuffer();
      assert.equal(lines.length, 1);
      assert.ok(!lines[0]!.includes("\n"), lines[0]);
      assert.equal(lines[0]!.split('"').length, 5, lines[0]);
    },
    { onAccess: (line) => lines.push(line) },
  );
}
