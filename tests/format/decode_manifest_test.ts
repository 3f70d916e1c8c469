import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManifestFormatError } from "../../lib/errors.ts";
import { canonicalJson } from "../../lib/format/canonical_json.ts";
import { decodeManifest } from "../../lib/format/decode_manifest.ts";
import type { ManifestType } from "../../lib/format/manifest_types.ts";
import { fixture, fixtureJson } from "../_fixtures.ts";

const encoder = new TextEncoder();

/** Parsed fixture JSON, edited freely by the table below. */
// deno-lint-ignore no-explicit-any
type Loose = any;

/** A fixture with its `signed` object changed, re-encoded canonically (signatures now stale). */
function mutated(path: string, change: (signed: Record<string, Loose>) => void): Uint8Array {
  const envelope = fixtureJson(path) as { signed: Record<string, Loose> };
  change(envelope.signed);
  return encoder.encode(canonicalJson(envelope));
}

describe("decodeManifest()", () => {
  it("decodes every role of the official chain with no legacy fields", () => {
    const cases: [string, ManifestType][] = [
      ["official-root/6.root.json", "root"],
      ["mock-mirror/timestamp.valid-2120.json", "timestamp"],
      ["polluted-profile-a/manifests/snapshot.json", "snapshot"],
      ["mock-mirror/420.index.json", "index"],
      ["polluted-profile-a/manifests/tidb.json", "component"],
    ];
    for (const [path, type] of cases) {
      const decoded = decodeManifest(fixture(path), type, path);
      assert.equal(decoded.signed._type, type);
      assert.deepEqual(decoded.legacyFields, []);
      assert.equal(decoded.file, path);
    }
  });

  it("returns the raw signed span, not a re-serialization", () => {
    const bytes = encoder.encode(
      ` { "signed" : {"_type":"timestamp","expires":"2120-01-01T00:00:00Z","meta":{},` +
        `"spec_version":"0.1.0","version":1} , "signatures": [] } `,
    );
    const decoded = decodeManifest(bytes, "timestamp", "timestamp.json");
    assert.equal(
      new TextDecoder().decode(decoded.signedBytes),
      `{"_type":"timestamp","expires":"2120-01-01T00:00:00Z","meta":{},"spec_version":"0.1.0","version":1}`,
    );
    assert.equal(decoded.fileBytes, bytes);
  });

  it("tolerates the 2020 cloned mirror's legacy fields and lists them", () => {
    const component = decodeManifest(
      fixture("cloned-mirror/1.tidb.json"),
      "component",
      "1.tidb.json",
    );
    assert.deepEqual(component.legacyFields, ["signed.nightly (missing)", "signed.name"]);
    assert.equal(component.signed.nightly, "");
  });

  it("reports the cloned mirror's missing owner threshold as that rule", () => {
    assert.throws(
      () => decodeManifest(fixture("cloned-mirror/1.index.json"), "index", "1.index.json"),
      (error) =>
        error instanceof ManifestFormatError &&
        error.message.startsWith(
          'Cannot read "1.index.json": signed.owners.pingcap.threshold is missing',
        ),
    );
  });

  it("fills and lists legacy index items without hidden and standalone", () => {
    const bytes = mutated("mock-mirror/420.index.json", (signed) => {
      delete signed.components.tidb.hidden;
      delete signed.components.tidb.standalone;
      signed.components.tidb.threshold = 1;
    });
    const index = decodeManifest(bytes, "index", "420.index.json");
    assert.deepEqual([...index.legacyFields].sort(), [
      "signed.components.tidb.hidden (missing)",
      "signed.components.tidb.standalone (missing)",
      "signed.components.tidb.threshold",
    ]);
    assert.equal(index.signed.components.tidb?.hidden, false);
  });

  const refusals: [string, string, ManifestType, (s: Record<string, Loose>) => void, string][] = [
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => delete s.owners.pingcap.threshold,
      'Cannot read "x": signed.owners.pingcap.threshold is missing',
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => (s.owners.pingcap.threshold = -1),
      "signed.owners.pingcap.threshold must be a non-negative integer, not -1",
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => (s.owners.pingcap.threshold = 1.5),
      "signed.owners.pingcap.threshold must be a non-negative integer, not 1.5",
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => (s.version = "420"),
      'signed.version must be a non-negative integer, not "420"',
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => (s.components.tidb.yanked = "no"),
      'signed.components.tidb.yanked must be true or false, not "no"',
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => delete s.components.tidb.owner,
      "signed.components.tidb.owner is missing",
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => (s.default_components = "tidb"),
      'signed.default_components must be an array, not "tidb"',
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => (s.spec_version = "0.2.0"),
      'unknown manifest version "0.2.0"',
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => (s.expires = "2121-02-31T00:00:00Z"),
      'signed.expires is not an RFC 3339 time: "2121-02-31T00:00:00Z"',
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "index",
      (s) => (s.expires = "tomorrow"),
      'signed.expires is not an RFC 3339 time: "tomorrow"',
    ],
    [
      "index",
      "mock-mirror/420.index.json",
      "snapshot",
      () => {},
      'signed._type is "index", expected "snapshot"',
    ],
    ["owner key", "mock-mirror/420.index.json", "index", (s) => {
      const [info] = Object.values(s.owners.pingcap.keys) as Loose[];
      info.keytype = "ed25519";
    }, "key, expected rsa/rsassa-pss-sha256"],
    ["owner key", "mock-mirror/420.index.json", "index", (s) => {
      const [info] = Object.values(s.owners.pingcap.keys) as Loose[];
      info.keyval.private = "-----BEGIN PRIVATE KEY-----";
    }, "keyval holds a private key"],
    ["owner key", "mock-mirror/420.index.json", "index", (s) => {
      s.owners.pingcap.keys = { ABC: Object.values(s.owners.pingcap.keys)[0] };
    }, "signed.owners.pingcap.keys.ABC is not a key ID"],
    [
      "root",
      "official-root/6.root.json",
      "root",
      (s) => delete s.roles.snapshot,
      "signed.roles.snapshot is missing",
    ],
    [
      "root",
      "official-root/6.root.json",
      "root",
      (s) => (s.roles.root.threshold = null),
      "signed.roles.root.threshold must be a non-negative integer, not null",
    ],
    [
      "timestamp",
      "mock-mirror/timestamp.valid-2120.json",
      "timestamp",
      (s) => (s.meta["/snapshot.json"].length = 1e300),
      'signed.meta["/snapshot.json"].length must be a non-negative integer',
    ],
    [
      "snapshot",
      "polluted-profile-a/manifests/snapshot.json",
      "snapshot",
      (s) => delete s.meta["/tidb.json"].version,
      'signed.meta["/tidb.json"].version is missing',
    ],
    ["component", "polluted-profile-a/manifests/tidb.json", "component", (s) => {
      delete s.platforms["linux/amd64"]["v4.0.0"].hashes;
    }, 'signed.platforms["linux/amd64"]["v4.0.0"].hashes is missing'],
    ["component", "polluted-profile-a/manifests/tidb.json", "component", (s) => {
      s.platforms["linux/amd64"]["v4.0.0"].length = "1";
    }, 'signed.platforms["linux/amd64"]["v4.0.0"].length must be a non-negative integer'],
    [
      "component",
      "polluted-profile-a/manifests/tidb.json",
      "component",
      (s) => delete s.id,
      "signed.id is missing",
    ],
  ];
  for (const [role, path, type, change, message] of refusals) {
    it(`refuses a ${role} manifest where ${message}`, () => {
      assert.throws(
        () => decodeManifest(mutated(path, change), type, "x"),
        (error) =>
          error instanceof ManifestFormatError && error.message.startsWith('Cannot read "x": ') &&
          error.message.includes(message),
      );
    });
  }

  const envelopes: [string, string, typeof SyntaxError | typeof ManifestFormatError][] = [
    ["not JSON", "{", SyntaxError],
    ["trailing garbage", '{"signatures":[],"signed":{}} x', SyntaxError],
    ["an array", "[]", ManifestFormatError],
    ["an extra top-level member", '{"signatures":[],"signed":{},"x":1}', ManifestFormatError],
    ["no signatures", '{"signed":{}}', ManifestFormatError],
    [
      "uppercase key IDs",
      `{"signatures":[{"keyid":"${"A".repeat(64)}","sig":"AA=="}],"signed":{}}`,
      ManifestFormatError,
    ],
    [
      "a non-base64 sig",
      `{"signatures":[{"keyid":"${"a".repeat(64)}","sig":"a-b_"}],"signed":{}}`,
      ManifestFormatError,
    ],
    ["two signed members", '{"signatures":[],"signed":{},"signed":{}}', SyntaxError],
  ];
  for (const [what, text, type] of envelopes) {
    it(`refuses a file that has ${what}`, () => {
      assert.throws(
        () => decodeManifest(encoder.encode(text), "timestamp", "t.json"),
        (error) => error instanceof type && (error as Error).message.includes('"t.json"'),
      );
    });
  }

  it("refuses bytes that are not UTF-8", () => {
    assert.throws(
      () => decodeManifest(new Uint8Array([0x7b, 0xff, 0x7d]), "root", "root.json"),
      (error) => error instanceof SyntaxError && error.message.includes("UTF-8"),
    );
  });
});
