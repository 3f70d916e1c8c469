import assert from "node:assert/strict";
import { test } from "node:test";
import { retryAfterMs } from "../../lib/http/retry_after.ts";

test("retryAfterMs() reads delay-seconds and HTTP-dates (RFC 9110 10.2.3)", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const cases: Array<[string | null, number | undefined]> = [
    [null, undefined],
    ["0", 0],
    ["120", 120_000],
    [" 5 ", 5_000],
    ["Thu, 01 Jan 2026 00:00:30 GMT", 30_000],
    ["Wed, 31 Dec 2025 23:00:00 GMT", 0],
    ["soon", undefined],
    ["-1", undefined],
  ];
  for (const [header, expected] of cases) {
    assert.equal(retryAfterMs(header, now), expected, String(header));
  }
});
