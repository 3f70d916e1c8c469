import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { describe, it } from "node:test";
import { canonicalJson } from "../../lib/format/canonical_json.ts";
import { signedSpan } from "../../lib/format/signed_span.ts";
import { fixture, FIXTURES } from "../_fixtures.ts";

const decoder = new TextDecoder();

function manifestFixtures(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(`${FIXTURES}/${dir}`)) {
      const path = dir === "" ? name : `${dir}/${name}`;
      if (statSync(`${FIXTURES}/${path}`).isDirectory()) walk(path);
      else if (name.endsWith(".json")) out.push(path);
    }
  };
  walk("");
  return out.sort();
}

describe("canonicalJson()", () => {
  const cases: [string, unknown, string][] = [
    ["sorts keys", { b: 1, a: 2, _type: 3 }, '{"_type":3,"a":2,"b":1}'],
    ["escapes quote and backslash", 'a"b\\c', '"a\\"b\\\\c"'],
    ["uses short escapes", "\b\t\n\f\r", '"\\b\\t\\n\\f\\r"'],
    ["uses uppercase \\u00XX for other controls", "\u0000\u001f\u000b", '"\\u0000\\u001F\\u000B"'],
    ["leaves < > & U+007F U+2028 and non-ASCII raw", "<>&\u007f\u2028é😀", '"<>&\u007f\u2028é😀"'],
    ["escapes lone surrogates in uppercase", "\ud800x\udfff", '"\\uD800x\\uDFFF"'],
    ["writes integers plainly", [0, -0, 7, -12, 2 ** 53], "[0,0,7,-12,9007199254740992]"],
    [
      "writes fractions with capital E",
      [1.5, 0.001, -2.5e-7, 0.1],
      "[1.5E0,1.0E-3,-2.5E-7,1.0E-1]",
    ],
    ["writes literals", [true, false, null], "[true,false,null]"],
    ["writes empty containers", { a: {}, b: [] }, '{"a":{},"b":[]}'],
    [
      "orders astral keys after U+E000–FFFF (code points, not UTF-16 units)",
      { "\u{1F600}": 1, "\uFF01": 2, "\uE000": 3, "a": 4 },
      '{"a":4,"\uE000":3,"\uFF01":2,"\u{1F600}":1}',
    ],
  ];
  for (const [what, value, expected] of cases) {
    it(what, () => assert.equal(canonicalJson(value), expected));
  }

  it("refuses undefined members, functions and non-finite numbers", () => {
    assert.throws(() => canonicalJson({ a: undefined }), TypeError);
    assert.throws(() => canonicalJson(() => 1), TypeError);
    assert.throws(() => canonicalJson(Number.NaN), TypeError);
  });

  it("reproduces every manifest fixture byte for byte, except the two with a trailing newline", () => {
    const files = manifestFixtures();
    assert.equal(files.length, 43);
    const withNewline: string[] = [];
    for (const path of files) {
      const text = decoder.decode(fixture(path));
      const canonical = canonicalJson(JSON.parse(text));
      if (text === canonical) continue;
      assert.equal(text, `${canonical}\n`, path);
      withNewline.push(path);
    }
    assert.deepEqual(withNewline, [
      "polluted-profile-a/manifests/index.json",
      "polluted-profile-b/manifests/index.json",
    ]);
  });

  it("reproduces the raw signed span of every manifest fixture", () => {
    for (const path of manifestFixtures()) {
      const bytes = fixture(path);
      const signed = (JSON.parse(decoder.decode(bytes)) as { signed: unknown }).signed;
      assert.equal(decoder.decode(signedSpan(bytes)), canonicalJson(signed), path);
    }
  });
});
