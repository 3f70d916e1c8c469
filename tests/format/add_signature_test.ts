import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { addSignature } from "../../lib/format/add_signature.ts";
import { canonicalBytes, canonicalJson } from "../../lib/format/canonical_json.ts";
import { verifySignatures } from "../../lib/format/verify_signatures.ts";
import { testKeys } from "../_simulator.ts";

const signed = {
  _type: "root",
  expires: "2030-01-01T00:00:00Z",
  spec_version: "0.1.0",
  version: 2,
};
const unsigned = canonicalBytes({ signatures: [], signed });

describe("addSignature()", () => {
  it("appends a signature over the canonical signed object and writes canonical JSON", async () => {
    const { alice, bob } = await testKeys();
    const once = addSignature(unsigned, alice);
    const twice = addSignature(once, bob);
    const file = JSON.parse(new TextDecoder().decode(twice));
    assert.equal(new TextDecoder().decode(twice), canonicalJson(file));
    assert.deepEqual(file.signatures.map((s: { keyid: string }) => s.keyid), [alice.id, bob.id]);
    const trusted = {
      keys: { [alice.id]: alice.publicInfo, [bob.id]: bob.publicInfo },
      threshold: 2,
    };
    assert.deepEqual(verifySignatures(canonicalBytes(signed), file.signatures, trusted, "f"), [
      alice.id,
      bob.id,
    ]);
  });

  it("signs a pretty-printed file over its canonical form, as TiUP does", async () => {
    const { alice } = await testKeys();
    const pretty = new TextEncoder().encode(JSON.stringify({ signed, signatures: [] }, null, 4));
    const file = JSON.parse(new TextDecoder().decode(addSignature(pretty, alice)));
    const trusted = { keys: { [alice.id]: alice.publicInfo }, threshold: 1 };
    verifySignatures(canonicalBytes(signed), file.signatures, trusted, "f");
  });

  it("refuses a key that has already signed", async () => {
    const { alice } = await testKeys();
    assert.throws(
      () => addSignature(addSignature(unsigned, alice), alice, "new-root.json"),
      (error: Error) =>
        error instanceof UsageError && /"new-root\.json".*already signed/.test(error.message),
    );
  });

  const bad: Array<[string, string, RegExp]> = [
    ["text that is not JSON", "{oops", /not JSON/],
    ["JSON without a signed object", '{"signatures":[]}', /not a manifest/],
    ["a signed array", '{"signatures":[],"signed":[]}', /not a manifest/],
    ["signatures that are not an array", '{"signatures":{},"signed":{}}', /not an array/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}, naming the file`, async () => {
      const { alice } = await testKeys();
      assert.throws(
        () => addSignature(new TextEncoder().encode(text), alice, "x.json"),
        (error: Error) =>
          error instanceof UsageError && /"x\.json"/.test(error.message) &&
          message.test(error.message),
      );
    });
  }
});
