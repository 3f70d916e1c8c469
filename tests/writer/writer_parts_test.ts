/**
 * The repository writer's small parts: exact field sets, root checks, name rules, snapshot and
 * timestamp builders, manifest encoding, key files, the commits/ log and local tarball sources.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { describe, it } from "node:test";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { UsageError, VerificationError } from "../../lib/errors.ts";
import { buildSnapshot } from "../../lib/writer/build_snapshot.ts";
import { buildTimestamp } from "../../lib/writer/build_timestamp.ts";
import { canonicalBytes } from "../../lib/format/canonical_json.ts";
import { checkName } from "../../lib/format/check_names.ts";
import { validateRoot } from "../../lib/trust/validate_root.ts";
import { writeCommitLog } from "../../lib/writer/commit_log.ts";
import { encodeManifest } from "../../lib/format/encode_manifest.ts";
import { hashBytes } from "../../lib/format/hash.ts";
import { parseKeyFile } from "../../lib/format/load_key.ts";
import type {
  ComponentManifest,
  IndexManifest,
  RootManifest,
  SnapshotManifest,
} from "../../lib/format/manifest_types.ts";
import { normalizeManifest } from "../../lib/format/normalize_manifest.ts";
import { privateKeyFileText } from "../../lib/format/private_key_file.ts";
import { signedSpan } from "../../lib/format/signed_span.ts";
import { tarballFromFile } from "../../lib/writer/tarball_from_file.ts";
import { verifySignatures } from "../../lib/format/verify_signatures.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { readText } from "../../lib/storage/read_bytes.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { day, T0, tempDir, testKeys } from "../_simulator.ts";

describe("normalizeManifest()", () => {
  it("drops legacy fields and fills what 2020-era manifests lack, as Go structs would", () => {
    const legacy = {
      _type: "index",
      components: { tidb: { owner: "pingcap", threshold: 1, url: "/tidb.json", yanked: false } },
      default_components: null,
      expires: "2030-01-01T00:00:00Z",
      owners: {},
      spec_version: "0.1.0",
      version: 3,
      extra: true,
    } as unknown as IndexManifest;
    const index = normalizeManifest(legacy);
    assert.deepEqual(index.components.tidb, {
      hidden: false,
      owner: "pingcap",
      standalone: false,
      url: "/tidb.json",
      yanked: false,
    });
    assert.equal("extra" in index, false);
    assert.equal(index.default_components, null);
  });

  it("keeps null dependencies and copies, never aliases, the input", () => {
    const component = {
      _type: "component",
      description: "",
      expires: "2030-01-01T00:00:00Z",
      id: "x",
      name: "legacy",
      platforms: {
        "linux/amd64": {
          v1: {
            dependencies: null,
            entry: "x",
            hashes: { sha256: "a" },
            length: 1,
            released: "2026-01-01T00:00:00Z",
            url: "/x-v1-linux-amd64.tar.gz",
            yanked: false,
          },
        },
      },
      spec_version: "0.1.0",
      version: 1,
    } as unknown as ComponentManifest;
    const copy = normalizeManifest(component);
    assert.equal(copy.nightly, "");
    assert.equal("name" in copy, false);
    copy.platforms["linux/amd64"]!.v1!.yanked = true;
    assert.equal(component.platforms["linux/amd64"]!.v1!.yanked, false);
    assert.equal(copy.platforms["linux/amd64"]!.v1!.dependencies, null);
  });
});

describe("validateRoot()", () => {
  async function root(): Promise<RootManifest> {
    const { root: key } = await testKeys();
    const role = (name: string) => ({
      keys: { [key.id]: key.publicInfo },
      threshold: 1,
      url: `/${name}.json`,
    });
    return {
      _type: "root",
      expires: "2030-01-01T00:00:00Z",
      roles: {
        index: role("index"),
        root: role("root"),
        snapshot: role("snapshot"),
        timestamp: role("timestamp"),
      },
      spec_version: "0.1.0",
      version: 1,
    };
  }

  it("accepts a valid root", async () => validateRoot(await root(), "root.json"));

  const breaks: Array<[string, (r: RootManifest) => void, RegExp]> = [
    [
      "a missing role",
      (r) => delete (r.roles as Partial<RootManifest["roles"]>).snapshot,
      /no "snapshot" role/,
    ],
    [
      "a threshold above the key count",
      (r) => (r.roles.root.threshold = 2),
      /has 1 keys but needs 2/,
    ],
    ["a zero threshold", (r) => (r.roles.index.threshold = 0), /not a positive integer/],
    ["a wrong role url", (r) => (r.roles.index.url = "/other.json"), /url is "\/other\.json"/],
    [
      "a key ID that is not the key's hash (attack: key substitution)",
      (r) => {
        const [id, info] = Object.entries(r.roles.root.keys)[0]!;
        delete r.roles.root.keys[id];
        r.roles.root.keys["0".repeat(64)] = info;
      },
      /does not hash to its ID/,
    ],
  ];
  for (const [what, mutate, message] of breaks) {
    it(`refuses ${what}`, async () => {
      const value = structuredClone(await root());
      mutate(value);
      assert.throws(
        () => validateRoot(value, "2.root.json"),
        (error: Error) =>
          error instanceof VerificationError && /"2\.root\.json"/.test(error.message) &&
          message.test(error.message),
      );
    });
  }
});

describe("checkName()", () => {
  for (
    const name of ["hello", "tidb-lightning", "v1.2.3", "v8.0.0-alpha-nightly-20231201", "a_b+c"]
  ) {
    it(`accepts ${name}`, () => assert.equal(checkName("version", name), name));
  }
  for (const name of ["", "../etc", "a/b", "-flag", ".hidden", "a b", "x\u0000y", "é"]) {
    it(`refuses ${JSON.stringify(name)}`, () =>
      assert.throws(() => checkName("component", name), UsageError));
  }
});

describe("buildSnapshot() and buildTimestamp()", () => {
  const current: SnapshotManifest = {
    _type: "snapshot",
    expires: "2026-01-31T00:00:00Z",
    meta: { "/index.json": { length: 10, version: 1 }, "/root.json": { length: 20, version: 1 } },
    spec_version: "0.1.0",
    version: 0,
  };

  it("updates meta entries, keeps version 0 and extends the expiry", () => {
    const next = buildSnapshot(current, { "/hello.json": { length: 5, version: 1 } }, {
      now: day(10),
    });
    assert.deepEqual(next.meta["/hello.json"], { length: 5, version: 1 });
    assert.deepEqual(next.meta["/index.json"], { length: 10, version: 1 });
    assert.equal(next.version, 0);
    assert.equal(next.expires, "2026-02-10T00:00:00Z");
    assert.equal(current.meta["/hello.json"], undefined);
  });

  it("records the snapshot's exact length and both hashes in one meta entry", () => {
    const bytes = new TextEncoder().encode("snapshot bytes");
    const timestamp = buildTimestamp(undefined, bytes, { now: T0, days: 7 });
    assert.deepEqual(timestamp, {
      _type: "timestamp",
      expires: "2026-01-08T00:00:00Z",
      meta: { "/snapshot.json": { hashes: hashBytes(bytes), length: bytes.length } },
      spec_version: "0.1.0",
      version: 1,
    });
    assert.equal(buildTimestamp(timestamp, bytes, { now: T0 }).version, 2);
  });
});

describe("encodeManifest()", () => {
  it("stores the signed object canonically so its raw span verifies, and signs once per key", async () => {
    const { alice } = await testKeys();
    const signed = {
      _type: "snapshot",
      expires: "x",
      meta: {},
      spec_version: "0.1.0",
      version: 0,
    } as const;
    const bytes = encodeManifest(signed as unknown as SnapshotManifest, [alice, alice]);
    const file = JSON.parse(new TextDecoder().decode(bytes));
    assert.equal(file.signatures.length, 1);
    assert.deepEqual(signedSpan(bytes), canonicalBytes(signed));
    const trusted = { keys: { [alice.id]: alice.publicInfo }, threshold: 1 };
    verifySignatures(signedSpan(bytes), file.signatures, trusted, "f");
    const again = encodeManifest(signed as unknown as SnapshotManifest, [alice], {
      signatures: file.signatures,
    });
    assert.equal(JSON.parse(new TextDecoder().decode(again)).signatures.length, 1);
  });
});

describe("privateKeyFileText()", () => {
  it("writes TiUP's format: PKCS#1 under a PRIVATE KEY label, 64-character lines, a newline", async () => {
    const { bob } = await testKeys();
    const text = privateKeyFileText(bob);
    assert.ok(text.endsWith("}\n"));
    const pem = JSON.parse(text).keyval.private as string;
    assert.ok(pem.startsWith("-----BEGIN PRIVATE KEY-----\nMIIE"));
    assert.ok(pem.split("\n").slice(1, -3).every((line) => line.length === 64));
    const loaded = parseKeyFile(text);
    assert.equal(loaded.kind === "private" && loaded.key.id, bob.id);
  });
});

describe("writeCommitLog()", () => {
  it("copies files into commits/commit-<unixnano>/ and never reuses a directory", async () => {
    const storage = new MemoryStorage();
    await storage.write("1.x.json", "one");
    await storage.write("timestamp.json", "ts");
    const first = await writeCommitLog(storage, ["1.x.json", "timestamp.json"], { now: T0 });
    const second = await writeCommitLog(storage, ["timestamp.json"], { now: T0 });
    assert.equal(first, `commits/commit-${BigInt(T0.getTime()) * 1_000_000n}`);
    assert.equal(second, `commits/commit-${BigInt(T0.getTime()) * 1_000_000n + 1n}`);
    assert.equal(await readText(storage, `${first}/1.x.json`), "one");
  });
});

describe("tarballFromFile()", () => {
  it("hashes a local tarball, lists its entries and reopens it for writing", async () => {
    const { dir, remove } = await tempDir();
    try {
      await fs.mkdir(nodePath.join(dir, "pkg", "bin"), { recursive: true });
      await fs.writeFile(nodePath.join(dir, "pkg", "bin", "tool"), "#!/bin/sh\n", { mode: 0o755 });
      const path = nodePath.join(dir, "t.tar.gz");
      const body = await packTarball(["bin"], { cwd: nodePath.join(dir, "pkg") });
      await fs.writeFile(path, await collectBytes(body));
      const bytes = new Uint8Array(await fs.readFile(path));
      const source = await tarballFromFile(path);
      assert.deepEqual(
        { sha256: source.sha256, sha512: source.sha512, length: source.length, name: source.name },
        { ...hashBytes(bytes), length: bytes.length, name: "t.tar.gz" },
      );
      assert.deepEqual(await collectBytes(source.open()), bytes);
      assert.equal(source.entries.get("bin/tool")?.kind, "file");
      assert.equal(source.entries.get("bin")?.kind, "directory");
    } finally {
      await remove();
    }
  });

  it("refuses a file that is not a gzip'd tarball", async () => {
    const { dir, remove } = await tempDir();
    try {
      const path = nodePath.join(dir, "t.tar.gz");
      await fs.writeFile(path, "tarball bytes");
      await assert.rejects(
        tarballFromFile(path),
        (error) =>
          error instanceof UsageError && /not a gzip-compressed tarball/.test(error.message),
      );
    } finally {
      await remove();
    }
  });

  it("refuses a missing file and a directory, naming them", async () => {
    const { dir, remove } = await tempDir();
    try {
      await assert.rejects(
        tarballFromFile(nodePath.join(dir, "nope.tar.gz")),
        /nope\.tar\.gz.*ENOENT/,
      );
      await assert.rejects(tarballFromFile(dir), /not a file/);
    } finally {
      await remove();
    }
  });
});
