import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { describe, it } from "node:test";
import { keyId, type PublicKeyInfo, publicKeyInfoOf } from "../../lib/format/key_info.ts";
import { fixture, fixtureJson } from "../_fixtures.ts";

const pem = (path: string) => new TextDecoder().decode(fixture(path));

describe("keyId()", () => {
  it("matches the IDs computed for the two Go test keys", () => {
    const cases: [string, string][] = [
      [
        "test-keys/v1manifest-keys_test.public.pem",
        "520eb67349ebd8020aa5a9825a9aaba7413ef2c4006b36835bb140b088d0bde7",
      ],
      [
        "test-keys/crypto-rsa_test.public.pem",
        "267670259ae0a364c659544df9d7016540f8c342a02b07dde57343011a8b384d",
      ],
    ];
    for (const [path, id] of cases) {
      assert.equal(keyId(publicKeyInfoOf(createPublicKey(pem(path)))), id, path);
    }
  });

  it("recomputes every key ID in every root and index fixture", () => {
    let count = 0;
    const paths = [
      "official-root/1.root.json",
      "official-root/4.root.json",
      "official-root/6.root.json",
      "cloned-mirror/1.root.json",
      "cloned-mirror/1.index.json",
      "mock-mirror/420.index.json",
    ];
    for (const path of paths) {
      const signed = fixtureJson(path).signed as {
        roles?: Record<string, { keys: Record<string, PublicKeyInfo> }>;
        owners?: Record<string, { keys: Record<string, PublicKeyInfo> }>;
      };
      for (const holder of Object.values({ ...signed.roles, ...signed.owners })) {
        for (const [id, info] of Object.entries(holder.keys)) {
          assert.equal(keyId(info), id, `${path} ${id}`);
          count++;
        }
      }
    }
    assert.ok(count >= 30);
  });

  it("renders public keys byte for byte as Go does (SPKI PEM, 64-column lines, final newline)", () => {
    const info = (fixtureJson("official-root/6.root.json").signed as {
      roles: { root: { keys: Record<string, PublicKeyInfo> } };
    }).roles.root.keys;
    for (const key of Object.values(info)) {
      assert.equal(
        publicKeyInfoOf(createPublicKey(key.keyval.public)).keyval.public,
        key.keyval.public,
      );
    }
  });
});
