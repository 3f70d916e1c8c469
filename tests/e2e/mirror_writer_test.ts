/**
 * The mirror-writing verbs through the real CLI: happy paths checked by `ferry mirror verify`,
 * and a table of bad inputs, each of which must exit non-zero with a message naming the file and
 * leave the mirror directory byte-for-byte (and mode-for-mode) as it was.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import * as fs from "node:fs/promises";
import type { AddressInfo } from "node:net";
import * as nodePath from "node:path";
import { after, before, describe, it } from "node:test";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { canonicalJson } from "../../lib/format/canonical_json.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { makeTempDir, runFerry } from "./_cli.ts";
import { dirDigest } from "./_mirror_digest.ts";

const TIMEOUT = { timeout: 180_000 };
let temp: { dir: string; remove(): Promise<void> };
let base: string;
let env: Record<string, string>;
/** flock(1) processes holding a mirror's lock (killed with their process group at the end). */
const lockHolders: ChildProcess[] = [];

async function ferry(args: string[], expectCode = 0) {
  const result = await runFerry(args, { cwd: temp.dir, env, timeoutMs: 120_000 });
  assert.equal(
    result.code,
    expectCode,
    `ferry ${
      args.join(" ")
    } exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
  );
  return result;
}

async function copyOfBase(name: string): Promise<string> {
  const dir = nodePath.join(temp.dir, name);
  await fs.cp(base, dir, { recursive: true });
  return dir;
}

// deno-lint-ignore no-explicit-any
async function editJson(file: string, edit: (json: any) => void): Promise<void> {
  const json = JSON.parse(await fs.readFile(file, "utf8"));
  edit(json);
  await fs.writeFile(file, canonicalJson(json));
}

before(async () => {
  temp = await makeTempDir("ferry-e2e-writer");
  env = { FERRY_HOME: nodePath.join(temp.dir, "home"), FERRY_MIRROR: "", TIUP_MIRRORS: "" };
  base = nodePath.join(temp.dir, "base");
  // Publish checks that ENTRY is in the tarball, so these are real ones holding "hello".
  for (const [file, text] of [["hello.tar.gz", "v1"], ["hello2.tar.gz", "v2"]]) {
    const pkg = nodePath.join(temp.dir, `pkg-${text}`);
    await fs.mkdir(pkg);
    await fs.writeFile(nodePath.join(pkg, "hello"), `#!/bin/sh\necho ${text}\n`, { mode: 0o755 });
    await fs.writeFile(
      nodePath.join(temp.dir, file!),
      await collectBytes(await packTarball(["hello"], { cwd: pkg })),
    );
  }
  await ferry(["mirror", "init", base]);
  await ferry(["mirror", "genkey"]);
  await ferry(["mirror", "genkey", "-n", "bob", "--save"]);
  await ferry(["mirror", "grant", "jdoe", "--mirror", base]);
  for (const version of ["v0.0.1", "v0.0.2-nightly"]) {
    await ferry([
      "mirror",
      "publish",
      "hello",
      version,
      "hello.tar.gz",
      "hello",
      "--os",
      "linux",
      "--arch",
      "amd64",
      "--mirror",
      base,
    ]);
  }
});
after(async () => {
  for (const holder of lockHolders) {
    try {
      process.kill(-holder.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await temp?.remove();
});

describe("mirror writer commands (CLI)", () => {
  it("modify, renew and grant keep the mirror verifiable", TIMEOUT, async () => {
    const mirror = await copyOfBase("happy");
    const m = ["--mirror", mirror];
    await ferry(["mirror", "modify", "hello", "--desc", "Says hello", "--hide", ...m]);
    await ferry(["mirror", "modify", "hello:v0.0.1", "--yank", ...m]);
    await ferry(["mirror", "modify", "hello", "--no-hide", ...m]);
    const renew = await ferry([
      "mirror",
      "renew",
      "--snapshot-days",
      "365",
      "--timestamp-days",
      "200",
      "--index-days",
      "500",
      ...m,
    ]);
    assert.match(renew.stdout, /Renewed the repository/);
    await ferry(["mirror", "renew", "hello", "--days", "3650", ...m]);
    const publicKey = (await fs.readdir(temp.dir)).find((f) => f.endsWith("-public.json"))!;
    await ferry(["mirror", "grant", "bob", "-n", "Bob", "-k", publicKey, ...m]);
    const verify = await ferry(["mirror", "verify", mirror]);
    assert.match(verify.stdout + verify.stderr, /no problems/i);
    const timestamp = JSON.parse(
      await fs.readFile(nodePath.join(mirror, "timestamp.json"), "utf8"),
    );
    const snapshot = JSON.parse(await fs.readFile(nodePath.join(mirror, "snapshot.json"), "utf8"));
    assert.ok(Date.parse(snapshot.signed.expires) > Date.now() + 360 * 86_400_000);
    assert.ok(Date.parse(timestamp.signed.expires) > Date.now() + 190 * 86_400_000);
    const commits = await fs.readdir(nodePath.join(mirror, "commits"));
    assert.ok(commits.length >= 8, commits.join());
  });

  it(
    "init creates the directory with 0600 keys; genkey never overwrites; -p shows the key",
    TIMEOUT,
    async () => {
      const mirror = nodePath.join(temp.dir, "nested", "new-mirror");
      await ferry(["mirror", "init", mirror]);
      const keyFiles = await fs.readdir(nodePath.join(mirror, "keys"));
      assert.equal(keyFiles.length, 6);
      for (const file of keyFiles) {
        const mode = (await fs.stat(nodePath.join(mirror, "keys", file))).mode & 0o777;
        assert.equal(mode, 0o600, file);
      }
      await ferry(["mirror", "verify", mirror]);
      const onFile = await ferry(["mirror", "init", nodePath.join(temp.dir, "hello.tar.gz")], 2);
      assert.match(onFile.stderr, /is a file, not a directory/);

      const keyPath = nodePath.join(env.FERRY_HOME!, "keys", "private.json");
      const before = await fs.readFile(keyPath);
      const again = await ferry(["mirror", "genkey"]);
      assert.match(again.stderr, /Key already exists, skipped/);
      assert.deepEqual(await fs.readFile(keyPath), before);
      const shown = await ferry(["mirror", "genkey", "-p"]);
      const [first, ...rest] = shown.stdout.trimEnd().split("\n");
      assert.match(first ?? "", /^KeyID: [0-9a-f]{64}$/);
      const info = JSON.parse(rest.join("\n"));
      assert.equal(info.keytype, "rsa");
      assert.match(rest[1] ?? "", /^\t"keytype"/);
      const missing = await ferry(["mirror", "genkey", "-p", "-n", "nobody"], 2);
      assert.match(missing.stderr, /nobody\.json/);
    },
  );

  it("rotates the root offline: prepare, sign, apply", TIMEOUT, async () => {
    const mirror = await copyOfBase("rotate");
    const rootBefore = await fs.readFile(nodePath.join(mirror, "root.json"));
    const bobKey = nodePath.join(env.FERRY_HOME!, "keys", "bob.json");
    const prepare = await ferry([
      "mirror",
      "rotate",
      mirror,
      "--prepare",
      "--add-key",
      bobKey,
      "--threshold",
      "4",
      "-o",
      "new-root.json",
    ]);
    assert.match(prepare.stdout, /root version 2/);
    // Not enough signatures yet: bob has not signed (4 of 4 new keys needed).
    const early = await ferry(["mirror", "rotate", mirror, "--apply", "new-root.json"], 2);
    assert.match(early.stderr, /ferry mirror sign new-root\.json/);
    await ferry(["mirror", "sign", "new-root.json", "-k", bobKey]);
    const twice = await ferry(["mirror", "sign", "new-root.json", "-k", bobKey], 2);
    assert.match(twice.stderr, /already signed/);
    const apply = await ferry(["mirror", "rotate", mirror, "--apply", "new-root.json"]);
    assert.match(apply.stdout, /Published 2\.root\.json/);
    assert.deepEqual(await fs.readFile(nodePath.join(mirror, "root.json")), rootBefore);
    await ferry(["mirror", "verify", mirror]);
    // The rotated mirror still takes publishes.
    await ferry([
      "mirror",
      "publish",
      "hello",
      "v0.0.3",
      "hello2.tar.gz",
      "hello",
      "--os",
      "any",
      "--arch",
      "any",
      "--mirror",
      mirror,
    ]);
    await ferry(["mirror", "verify", mirror]);
  });

  it("signs a manifest served over HTTP and posts it back", TIMEOUT, async () => {
    const unsigned = await fs.readFile(nodePath.join(base, "root.json"));
    let posted: Buffer | undefined;
    const server = createServer((request, response) => {
      if (request.method === "GET") {
        response.end(unsigned);
        return;
      }
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        posted = Buffer.concat(chunks);
        response.end("ok");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      await ferry([
        "mirror",
        "sign",
        `http://127.0.0.1:${port}/rotate/abc`,
        "-k",
        nodePath.join(env.FERRY_HOME!, "keys", "bob.json"),
      ]);
      const file = JSON.parse(posted!.toString());
      assert.equal(file.signatures.length, JSON.parse(unsigned.toString()).signatures.length + 1);
    } finally {
      server.close();
    }
  });

  describe("bad input: clear error, non-zero exit, mirror exactly as it was", () => {
    type Case = {
      what: string;
      break?: (mirror: string) => Promise<void>;
      args: (mirror: string) => string[];
      code: number;
      message: RegExp;
    };
    const publishV3 = (mirror: string, tarball = "hello2.tar.gz") => [
      "mirror",
      "publish",
      "hello",
      "v0.0.3",
      tarball,
      "hello",
      "--os",
      "linux",
      "--arch",
      "amd64",
      "--mirror",
      mirror,
    ];
    const cases: Case[] = [
      {
        what: "malformed JSON in timestamp.json",
        break: (m) => fs.writeFile(nodePath.join(m, "timestamp.json"), "{"),
        args: (m) => publishV3(m),
        code: 3,
        message: /timestamp\.json.*not valid JSON/,
      },
      {
        what: "a snapshot where the timestamp should be (wrong _type)",
        break: (m) =>
          fs.copyFile(nodePath.join(m, "snapshot.json"), nodePath.join(m, "timestamp.json")),
        args: (m) => publishV3(m),
        code: 3,
        message: /timestamp\.json.*_type is "snapshot"/,
      },
      {
        what: "an unknown spec_version",
        break: (m) =>
          editJson(nodePath.join(m, "timestamp.json"), (j) => (j.signed.spec_version = "0.2.0")),
        args: (m) => publishV3(m),
        code: 3,
        message: /timestamp\.json.*unknown manifest version "0\.2\.0"/,
      },
      {
        what: "a missing field",
        break: (m) => editJson(nodePath.join(m, "timestamp.json"), (j) => delete j.signed.meta),
        args: (m) => publishV3(m),
        code: 3,
        message: /timestamp\.json.*meta is missing/,
      },
      {
        what: "a forged index signature",
        break: (m) =>
          editJson(nodePath.join(m, "3.index.json"), (j) => (j.signed.owners.jdoe.name = "jdof")),
        args: (m) => publishV3(m),
        code: 3,
        message: /3\.index\.json/,
      },
      {
        what: "a component manifest whose version does not follow the snapshot",
        break: (m) =>
          fs.copyFile(nodePath.join(m, "1.hello.json"), nodePath.join(m, "2.hello.json")),
        args: (m) => publishV3(m),
        code: 3,
        message: /2\.hello\.json.*version is 1 but the snapshot says 2/,
      },
      {
        what: "a signing key file in the wrong format",
        break: async () =>
          await fs.writeFile(
            nodePath.join(temp.dir, "dsa.json"),
            '{"keytype":"dsa","keyval":{"private":"x"},"scheme":"x"}',
          ),
        args: (m) => [...publishV3(m), "-k", "dsa.json"],
        code: 2,
        message: /dsa\.json/,
      },
      {
        what: "a broken file in the mirror's keys/",
        break: (m) => fs.writeFile(nodePath.join(m, "keys", "junk.json"), "{}"),
        args: (m) => publishV3(m),
        code: 2,
        message: /keys\/junk\.json/,
      },
      {
        what: "an ENTRY the tarball does not hold",
        args: (m) => [...publishV3(m).slice(0, 5), "bin/hello", ...publishV3(m).slice(6)],
        code: 2,
        message: /entry "bin\/hello".*has no such file; it holds "hello"/,
      },
      {
        what: "a file that is not a tarball",
        break: () => fs.writeFile(nodePath.join(temp.dir, "notes.txt"), "pretend tarball"),
        args: (m) => publishV3(m, "notes.txt"),
        code: 2,
        message: /notes\.txt.*not a gzip-compressed tarball/,
      },
      {
        what: "different bytes for a published version",
        args: (m) => [...publishV3(m).slice(0, 3), "v0.0.1", ...publishV3(m).slice(4)],
        code: 2,
        message: /already published with different content/,
      },
      {
        what: "an unsupported platform",
        args: (m) => [...publishV3(m), "--os", "windows"],
        code: 2,
        message: /--os "windows".*linux, darwin, any/,
      },
      {
        what: "yanking a nightly",
        args: (m) => ["mirror", "modify", "hello:v0.0.2-nightly", "--yank", "--mirror", m],
        code: 2,
        message: /nightly versions cannot be yanked/,
      },
      {
        what: "granting the reserved owner ID root",
        args: (m) => ["mirror", "grant", "root", "--mirror", m],
        code: 2,
        message: /reserved/,
      },
      {
        what: "granting an existing owner",
        args: (m) => ["mirror", "grant", "jdoe", "--mirror", m],
        code: 2,
        message: /already exists/,
      },
      {
        what: "init into a mirror that exists",
        args: (m) => ["mirror", "init", m],
        code: 2,
        message: /not empty/,
      },
      {
        what: "a lock held by another writer",
        // The lock is flock(2) on <mirror>/lock: another process holds it, noting who it is.
        break: async (m) => {
          const file = nodePath.join(m, "lock");
          const holder = spawn("flock", [file, "sleep", "600"], {
            stdio: "ignore",
            detached: true,
          });
          lockHolders.push(holder);
          while (spawnSync("flock", ["-n", file, "true"]).status === 0) {
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          await fs.writeFile(
            file,
            JSON.stringify({
              pid: 1,
              host: "elsewhere",
              since: "2026-01-01T00:00:00Z",
              token: "t",
            }),
          );
        },
        args: (m) => [...publishV3(m), "--lock-wait", "0"],
        code: 1,
        message: /another writer \(pid 1 on "elsewhere"/,
      },
      {
        what: "a second signature by the same key",
        args: (m) => ["mirror", "sign", nodePath.join(m, "1.hello.json")],
        code: 2,
        message: /already signed/,
      },
      {
        // An HTTP mirror is published to through its publish API (tests/e2e/publish_api_test.ts);
        // one that cannot be reached is a network error before anything is signed.
        what: "publishing to an HTTP mirror that cannot be reached",
        args: () => [...publishV3("x").slice(0, -2), "--mirror", "http://127.0.0.1:9/"],
        code: 4,
        message: /Cannot fetch "http:\/\/127\.0\.0\.1:9\/root\.json"/,
      },
    ];
    cases.forEach((c, i) => {
      it(`refuses ${c.what}`, TIMEOUT, async () => {
        const mirror = await copyOfBase(`bad-${i}`);
        await c.break?.(mirror);
        const before = await dirDigest(mirror);
        const result = await ferry(c.args(mirror), c.code);
        assert.match(result.stderr, c.message);
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        assert.deepEqual(await dirDigest(mirror), before);
      });
    });
  });
});
