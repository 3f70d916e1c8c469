import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { describe, it } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { loadKeyFile, loadSigningKey, parseKeyFile } from "../../lib/format/load_key.ts";
import { fixture } from "../_fixtures.ts";

const text = (path: string) => new TextDecoder().decode(fixture(path));
const keyFile = (keyval: Record<string, string>) =>
  JSON.stringify({ keytype: "rsa", keyval, scheme: "rsassa-pss-sha256" });
const GO_TEST_KEY_ID = "520eb67349ebd8020aa5a9825a9aaba7413ef2c4006b36835bb140b088d0bde7";

/** The Go test key's PKCS#1 body re-armoured under "PRIVATE KEY", as TiUP writes key files. */
function goStylePem(): string {
  const loaded = parseKeyFile(
    keyFile({ private: text("test-keys/v1manifest-keys_test.private-pkcs1.pem") }),
  );
  if (loaded.kind !== "private") throw new TypeError("expected a private key");
  const der = loaded.key.privateKey.export({ type: "pkcs1", format: "der" }).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${
    der.match(/.{1,64}/g)!.join("\n")
  }\n-----END PRIVATE KEY-----\n`;
}

describe("parseKeyFile()", () => {
  it("reads Go-style PKCS#1 DER under a PRIVATE KEY label", () => {
    const loaded = parseKeyFile(keyFile({ private: goStylePem() }));
    assert.equal(loaded.kind, "private");
    assert.equal(loaded.kind === "private" && loaded.key.id, GO_TEST_KEY_ID);
  });

  it("reads the indented PKCS#1 PEM from the Go test file", () => {
    const loaded = parseKeyFile(
      keyFile({ private: text("test-keys/v1manifest-keys_test.private-pkcs1.pem") }),
    );
    assert.equal(loaded.kind === "private" && loaded.key.id, GO_TEST_KEY_ID);
  });

  it("reads PKCS#8", () => {
    const pkcs1 = parseKeyFile(
      keyFile({ private: text("test-keys/crypto-rsa_test.private-pkcs1.pem") }),
    );
    if (pkcs1.kind !== "private") throw new TypeError("expected a private key");
    const pkcs8 = pkcs1.key.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    assert.match(pkcs8, /^-----BEGIN PRIVATE KEY-----/);
    const loaded = parseKeyFile(keyFile({ private: pkcs8 }));
    assert.equal(
      loaded.kind === "private" && loaded.key.id,
      "267670259ae0a364c659544df9d7016540f8c342a02b07dde57343011a8b384d",
    );
  });

  it("reads a public key file with the same ID as its private key", () => {
    const loaded = parseKeyFile(
      keyFile({ public: text("test-keys/v1manifest-keys_test.public.pem") }),
    );
    assert.deepEqual([loaded.kind, loaded.kind === "public" && loaded.id], [
      "public",
      GO_TEST_KEY_ID,
    ]);
  });

  const garbage: [string, string][] = [
    ["text that is not JSON", "hello"],
    ["JSON without keyval", '{"keytype":"rsa"}'],
    [
      "another key type",
      JSON.stringify({ keytype: "ed25519", keyval: { public: "x" }, scheme: "ed25519" }),
    ],
    ["an empty keyval", keyFile({})],
    [
      "a private PEM that is not a key",
      keyFile({ private: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }),
    ],
    ["a public PEM that is not a key", keyFile({ public: "not a pem" })],
  ];
  for (const [what, content] of garbage) {
    it(`refuses ${what} with a UsageError naming the file`, () => {
      assert.throws(
        () => parseKeyFile(content, "keys/bad.json"),
        (error) => error instanceof UsageError && error.message.includes('"keys/bad.json"'),
      );
    });
  }
});

describe("loadKeyFile() and loadSigningKey()", () => {
  it("name the file when it is missing or holds only a public key", async () => {
    const dir = await mkdtemp(nodePath.join(tmpdir(), "ferry-keys-"));
    try {
      const missing = nodePath.join(dir, "missing.json");
      await assert.rejects(
        loadKeyFile(missing),
        (error) => error instanceof UsageError && error.message.includes(missing),
      );
      const publicFile = nodePath.join(dir, "public.json");
      await writeFile(
        publicFile,
        keyFile({ public: text("test-keys/v1manifest-keys_test.public.pem") }),
      );
      await assert.rejects(
        loadSigningKey(publicFile),
        (error) => error instanceof UsageError && error.message.includes("only a public key"),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
