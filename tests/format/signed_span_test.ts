import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { signedSpan } from "../../lib/format/signed_span.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const span = (text: string) => new TextDecoder().decode(signedSpan(encode(text)));

describe("signedSpan()", () => {
  it("returns the signed value exactly as stored, whitespace inside included", () => {
    assert.equal(
      span(' {\n "signatures": [],\n "signed": { "a" : [1, 2] }\n}\n'),
      '{ "a" : [1, 2] }',
    );
  });

  it("skips strings holding braces, brackets and escaped quotes", () => {
    const signed = '{"x":"}]\\"{[","y":{"signed":"no"}}';
    assert.equal(span(`{"signatures":[{"sig":"\\"}"}],"signed":${signed}}`), signed);
  });

  it("finds signed when it comes first", () => {
    assert.equal(span('{"signed":{"v":-1.5e+3},"signatures":null}'), '{"v":-1.5e+3}');
  });

  it("reads numbers of any length", () => {
    const big = "9".repeat(300);
    assert.equal(span(`{"signatures":[],"signed":{"n":${big}}}`), `{"n":${big}}`);
  });

  it("keeps non-ASCII bytes intact", () => {
    assert.equal(span('{"signed":{"d":"é😀\u2028"}}'), '{"d":"é😀\u2028"}');
  });

  const refusals: [string, string][] = [
    ["a duplicate signed member", '{"signed":{},"signed":{}}'],
    ["no signed member", '{"signatures":[]}'],
    ["an empty object", "{}"],
    ["trailing data", '{"signed":{}} {}'],
    ["an unterminated string", '{"signed":"abc'],
    ["a bare word", '{"signed":nope}'],
    ["a top-level array", "[]"],
  ];
  for (const [what, text] of refusals) {
    it(`refuses ${what}`, () => assert.throws(() => signedSpan(encode(text)), SyntaxError));
  }

  it("refuses invalid UTF-8", () => {
    assert.throws(() => signedSpan(new Uint8Array([0x7b, 0xc3, 0x28, 0x7d])));
  });
});
