import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { ExpiredError, SignatureError } from "../../lib/errors.ts";
import { decodeManifest } from "../../lib/format/decode_manifest.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import type { TimestampManifest } from "../../lib/format/manifest_types.ts";
import { verifyManifest } from "../../lib/trust/verify_manifest.ts";
import { keyMap, signFile } from "../_simulator.ts";
import { takeTestKeys } from "../_keys.ts";

const NOW = new Date("2030-06-01T00:00:00Z");

function timestamp(expires: string): TimestampManifest {
  return {
    _type: "timestamp",
    expires,
    meta: { "/snapshot.json": { hashes: { sha256: "00" }, length: 10 } },
    spec_version: "0.1.0",
    version: 7,
  };
}

describe("verifyManifest()", () => {
  let keys: SigningKey[] = [];
  before(() => {
    keys = takeTestKeys(3);
  });

  function decoded(expires: string, signers: SigningKey[]) {
    return decodeManifest(signFile(timestamp(expires), signers), "timestamp", "timestamp.json");
  }
  const trusted = () => ({ keys: keyMap([keys[0]!, keys[1]!]), threshold: 2 });
  const root = (expires: string) => ({
    role: "root" as const,
    file: "root.json",
    version: 6,
    expires,
  });

  it("returns the manifest when the threshold of listed keys signed and nothing expired", () => {
    const manifest = decoded("2030-07-01T00:00:00Z", [keys[0]!, keys[1]!, keys[2]!]);
    const verified = verifyManifest(manifest, {
      file: "timestamp.json",
      trusted: trusted(),
      declaredBy: root("2031-01-01T00:00:00Z"),
      now: NOW,
    });
    assert.equal(verified.signed.version, 7);
  });

  it("rejects a manifest signed by fewer keys than the threshold", () => {
    assert.throws(
      () =>
        verifyManifest(decoded("2030-07-01T00:00:00Z", [keys[0]!, keys[2]!]), {
          file: "timestamp.json",
          trusted: trusted(),
          now: NOW,
        }),
      (error) =>
        error instanceof SignatureError &&
        error.message === 'Cannot verify "timestamp.json": 1 of 2 required signatures are valid',
    );
  });

  it("rejects a freeze attack: a validly signed but expired manifest is an ExpiredError", () => {
    assert.throws(
      () =>
        verifyManifest(decoded("2030-05-31T23:59:59Z", [keys[0]!, keys[1]!]), {
          file: "timestamp.json",
          trusted: trusted(),
          declaredBy: root("2031-01-01T00:00:00Z"),
          now: NOW,
        }),
      (error) =>
        error instanceof ExpiredError &&
        error.message.startsWith('"timestamp.json" expired on 2030-05-31 (v7)'),
    );
  });

  it("names the expired root as the cause when the keys expired (TiUP issue #1436)", () => {
    assert.throws(
      () =>
        verifyManifest(decoded("2030-07-01T00:00:00Z", [keys[0]!, keys[1]!]), {
          file: "timestamp.json",
          trusted: trusted(),
          declaredBy: root("2026-07-26T11:20:48+08:00"),
          now: NOW,
        }),
      (error) =>
        error instanceof ExpiredError &&
        error.message.startsWith(
          'Cannot trust "timestamp.json": the root that lists its keys expired on 2026-07-26 ' +
            "(root.json v6)",
        ),
    );
  });

  it("treats a manifest expiring exactly now as still valid (expired means expires < now)", () => {
    const manifest = decoded("2030-06-01T00:00:00Z", [keys[0]!, keys[1]!]);
    verifyManifest(manifest, { file: "timestamp.json", trusted: trusted(), now: NOW });
  });

  it("checks signatures before expiry, so a tampered expired manifest is a SignatureError", () => {
    const manifest = decoded("2000-01-01T00:00:00Z", [keys[0]!, keys[1]!]);
    const tampered = { ...manifest, signedBytes: new Uint8Array([...manifest.signedBytes, 32]) };
    assert.throws(
      () => verifyManifest(tampered, { file: "timestamp.json", trusted: trusted(), now: NOW }),
      SignatureError,
    );
  });

  it("hands expiry problems to onExpired for audits and still returns the manifest", () => {
    const problems: ExpiredError[] = [];
    const verified = verifyManifest(decoded("2000-01-01T00:00:00Z", [keys[0]!, keys[1]!]), {
      file: "timestamp.json",
      trusted: trusted(),
      declaredBy: root("2001-01-01T00:00:00Z"),
      now: NOW,
      onExpired: (error) => problems.push(error),
    });
    assert.equal(verified.signed.version, 7);
    assert.equal(problems.length, 2);
  });
});
