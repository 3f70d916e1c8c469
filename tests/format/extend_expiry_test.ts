import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { extendExpiry } from "../../lib/format/extend_expiry.ts";

const now = new Date("2026-01-01T12:00:00.750Z");

describe("extendExpiry()", () => {
  const cases: Array<[string, string | undefined, number, string]> = [
    ["sets now + days when there is no expiry", undefined, 30, "2026-01-31T12:00:00Z"],
    ["extends an earlier expiry", "2025-06-01T00:00:00Z", 30, "2026-01-31T12:00:00Z"],
    ["keeps a later expiry (never shortens)", "2030-01-01T00:00:00Z", 30, "2030-01-01T00:00:00Z"],
    ["rewrites a kept offset time in UTC", "2030-01-01T08:00:00+08:00", 1, "2030-01-01T00:00:00Z"],
    ["replaces an expiry it cannot parse, as Go does", "soon", 1, "2026-01-02T12:00:00Z"],
    ["writes no fractional seconds", undefined, 0, "2026-01-01T12:00:00Z"],
  ];
  for (const [what, current, days, expected] of cases) {
    it(what, () => assert.equal(extendExpiry(current, now, days), expected));
  }

  it("refuses negative days", () => {
    assert.throws(() => extendExpiry(undefined, now, -1), RangeError);
  });
});
