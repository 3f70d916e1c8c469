import assert from "node:assert/strict";
import { test } from "node:test";
import { closestMatch } from "../../lib/cli/closest_match.ts";

const COMMANDS = ["mirror", "install", "list", "uninstall", "proxy", "package"];

const CASES: Array<[string, string | undefined]> = [
  ["mirorr", "mirror"],
  ["instal", "install"],
  ["lst", "list"],
  ["proxi", "proxy"],
  ["pakage", "package"],
  ["list", "list"],
  ["zzzzzzzzzz", undefined],
  ["", undefined],
];

for (const [input, expected] of CASES) {
  test(`closestMatch() suggests ${JSON.stringify(expected)} for ${JSON.stringify(input)}`, () => {
    assert.equal(closestMatch(input, COMMANDS), expected);
  });
}

test("closestMatch() returns undefined with no candidates", () => {
  assert.equal(closestMatch("x", []), undefined);
});
