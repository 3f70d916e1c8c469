import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTiupProfile } from "../../lib/client/tiup_profile.ts";

describe("isTiupProfile()", () => {
  const table: [Record<string, string | undefined>, boolean][] = [
    [{ TIUP_HOME: "/opt/tiup" }, true],
    [{ FERRY_HOME: "", TIUP_HOME: "/opt/tiup" }, true],
    [{ FERRY_HOME: "/opt/ferry", TIUP_HOME: "/opt/tiup" }, false],
    [{ FERRY_HOME: "/home/me/.tiup" }, true],
    [{ FERRY_HOME: "/home/me/.tiup/" }, true],
    [{ FERRY_HOME: "/home/me/.ferry" }, false],
    [{}, false],
  ];
  for (const [env, expected] of table) {
    it(`is ${expected} for ${JSON.stringify(env)}`, () => {
      assert.equal(isTiupProfile(env), expected);
    });
  }
});
