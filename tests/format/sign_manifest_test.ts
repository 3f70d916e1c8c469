import assert from "node:assert/strict";
import { constants, sign, verify } from "node:crypto";
import { before, describe, it } from "node:test";
import { SignatureError } from "../../lib/errors.ts";
import { canonicalBytes } from "../../lib/format/canonical_json.ts";
import { type GeneratedKey, generateSigningKey } from "../../lib/format/generate_key.ts";
import { parseKeyFile } from "../../lib/format/load_key.ts";
import { signBytes, signManifest } from "../../lib/format/sign_manifest.ts";
import { isValidSignature, verifySignatures } from "../../lib/format/verify_signatures.ts";

describe("generateSigningKey() + signManifest() + verifySignatures()", () => {
  let generated: GeneratedKey;
  let other: GeneratedKey;
  before(async () => {
    [generated, other] = await Promise.all([generateSigningKey(), generateSigningKey()]);
  });
  const signed = { _type: "timestamp", version: 1, meta: { "é": "x" } };

  it("writes a key file that loads back with the same ID (PKCS#1 under PRIVATE KEY, 0600 is the writer's)", () => {
    assert.match(
      generated.privateFileText,
      /^\{"keytype":"rsa","keyval":\{"private":"-----BEGIN PRIVATE KEY-----\\n/,
    );
    assert.ok(generated.privateFileText.endsWith("}\n"));
    const loaded = parseKeyFile(generated.privateFileText);
    assert.equal(loaded.kind === "private" && loaded.key.id, generated.key.id);
    const der = Buffer.from(
      generated.privateFileText.split("-----")[2]!.replace(/\\n/g, ""),
      "base64",
    );
    assert.equal(der[0], 0x30); // PKCS#1 RSAPrivateKey is a SEQUENCE starting with version 0
    assert.equal(generated.key.publicInfo.keyval.public.length, 451);
  });

  it("round-trips: a signature over the canonical bytes verifies", () => {
    const signatures = signManifest(signed, [generated.key]);
    const trusted = { keys: { [generated.key.id]: generated.key.publicInfo }, threshold: 1 };
    assert.deepEqual(verifySignatures(canonicalBytes(signed), signatures, trusted, "t.json"), [
      generated.key.id,
    ]);
    assert.equal(Buffer.from(signatures[0]!.sig, "base64").length, 256);
  });

  it("signs with the maximum salt, 222 bytes for RSA-2048, as Go does", () => {
    const bytes = canonicalBytes(signed);
    const { sig } = signBytes(generated.key, bytes);
    const check = (saltLength: number) =>
      verify("sha256", bytes, {
        key: generated.key.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength,
      }, Buffer.from(sig, "base64"));
    assert.equal(check(222), true);
    assert.equal(check(32), false);
  });

  it("accepts signatures made with a 32-byte salt (Go verifies any salt length)", () => {
    const bytes = canonicalBytes(signed);
    const sig = sign("sha256", bytes, {
      key: generated.key.privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    });
    assert.equal(isValidSignature(generated.key.publicInfo, bytes, sig.toString("base64")), true);
  });

  it("rejects a signature from a listed key over different bytes, and ignores unlisted keys", () => {
    const signatures = signManifest(signed, [generated.key, other.key]);
    const trusted = { keys: { [generated.key.id]: generated.key.publicInfo }, threshold: 1 };
    assert.throws(
      () =>
        verifySignatures(canonicalBytes({ ...signed, version: 2 }), signatures, trusted, "t.json"),
      (error) => error instanceof SignatureError && error.message.includes("does not match"),
    );
    assert.throws(
      () =>
        verifySignatures(
          canonicalBytes(signed),
          signManifest(signed, [other.key]),
          trusted,
          "t.json",
        ),
      (error) => error instanceof SignatureError && error.message.includes("0 of 1"),
    );
  });
});
