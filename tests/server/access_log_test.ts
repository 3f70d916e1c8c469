import assert from "node:assert/strict";
import { test } from "node:test";
import { type AccessRecord, formatAccessLine } from "../../lib/server/access_log.ts";

const RECORD: AccessRecord = {
  remoteAddress: "192.168.1.20",
  method: "GET",
  path: "/bin/1.root.json",
  status: 200,
  bytes: 1234,
  durationMs: 12.3456,
  userAgent: "tiup/1.16.1",
  time: new Date("2024-05-06T07:08:09.010Z"),
};

test("formatAccessLine() writes one combined-style line with the duration in seconds", () => {
  assert.equal(
    formatAccessLine(RECORD),
    '192.168.1.20 - - [2024-05-06T07:08:09.010Z] "GET /bin/1.root.json" 200 1234 "tiup/1.16.1" 0.012',
  );
});

test("formatAccessLine() cannot be split into forged lines (log injection)", () => {
  const line = formatAccessLine({
    ...RECORD,
    path: '/a b"\n10.0.0.1 - - "GET /x',
    userAgent: 'x"\r\n10.0.0.1 - - [now] "GET /admin" 200 0 "y\\',
  });
  assert.ok(!line.includes("\n") && !line.includes("\r"), line);
  assert.equal(line.split('"').length, 5, line);
});
