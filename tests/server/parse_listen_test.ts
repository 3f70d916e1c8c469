import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { parseListen } from "../../lib/server/parse_listen.ts";

const GOOD: Array<[string, string, number]> = [
  ["127.0.0.1:8080", "127.0.0.1", 8080],
  ["0.0.0.0:80", "0.0.0.0", 80],
  [":8443", "0.0.0.0", 8443],
  ["8080", "127.0.0.1", 8080],
  ["localhost:9000", "127.0.0.1", 9000],
  ["mirror.lan:0", "mirror.lan", 0],
  ["[::1]:8080", "::1", 8080],
  ["[::]:8080", "::", 8080],
  ["127.0.0.1:65535", "127.0.0.1", 65535],
];

for (const [value, hostname, port] of GOOD) {
  test(`parseListen() reads "${value}"`, () => {
    assert.deepEqual(parseListen(value), { hostname, port });
  });
}

const BAD = [
  "",
  "127.0.0.1",
  "127.0.0.1:",
  "127.0.0.1:http",
  "127.0.0.1:-1",
  "127.0.0.1:65536",
  "::1:8080",
  "[::1]",
  "host name:80",
  "a/b:80",
  "127.0.0.1:80 ",
];

for (const value of BAD) {
  test(`parseListen() refuses ${JSON.stringify(value)} with a UsageError naming it`, () => {
    const error = (() => {
      try {
        parseListen(value);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(error instanceof UsageError, `accepted ${JSON.stringify(value)}`);
    assert.ok(error.message.includes(`"${value}"`), error.message);
    assert.ok(!error.message.endsWith("."), error.message);
  });
}

test("parseListen() uses the default host for a bare port", () => {
  assert.deepEqual(parseListen("80", "0.0.0.0"), { hostname: "0.0.0.0", port: 80 });
});
