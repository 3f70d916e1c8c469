import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRange, type RangeRequest } from "../../lib/server/parse_range.ts";

const FULL: RangeRequest = { kind: "full" };
const UNSATISFIABLE: RangeRequest = { kind: "unsatisfiable" };
const part = (start: number, end: number): RangeRequest => ({
  kind: "partial",
  range: { start, end },
});

const CASES: Array<[string | null | undefined, number, RangeRequest]> = [
  [null, 100, FULL],
  [undefined, 100, FULL],
  ["", 100, FULL],
  ["bytes=0-9", 100, part(0, 9)],
  ["bytes=0-0", 100, part(0, 0)],
  ["bytes=99-99", 100, part(99, 99)],
  ["bytes=50-", 100, part(50, 99)],
  ["bytes=-10", 100, part(90, 99)],
  ["bytes=-1000", 100, part(0, 99)],
  ["bytes=90-1000", 100, part(90, 99)],
  ["BYTES = 1 - 2", 100, part(1, 2)],
  ["bytes=100-", 100, UNSATISFIABLE],
  ["bytes=100-200", 100, UNSATISFIABLE],
  ["bytes=-0", 100, UNSATISFIABLE],
  ["bytes=0-", 0, UNSATISFIABLE],
  ["bytes=-5", 0, UNSATISFIABLE],
  ["bytes=9999999999999999-", 100, UNSATISFIABLE],
  // RFC 9110 §14.1.2: a last position past the end means "to the end", however long it is.
  ["bytes=0-99999999999999999999", 100, part(0, 99)],
  ["bytes=10-9999999999999999999999999999999999999999", 100, part(10, 99)],
  ["bytes=99999999999999999999-99999999999999999999", 100, UNSATISFIABLE],
  ["bytes=0-1,4-5", 100, FULL],
  ["bytes=5-2", 100, FULL],
  ["bytes=-", 100, FULL],
  ["bytes=a-b", 100, FULL],
  ["items=0-5", 100, FULL],
  ["bytes 0-5", 100, FULL],
  ["bytes=1.5-2", 100, FULL],
];

for (const [header, size, expected] of CASES) {
  test(`parseRange() reads ${JSON.stringify(header)} of a ${size}-byte file`, () => {
    assert.deepEqual(parseRange(header, size), expected);
  });
}
