import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseChallenge } from "../../proxy/parse_challenge.ts";

describe("parseChallenge()", () => {
  it("parses a Docker token challenge with a comma inside the quoted scope", () => {
    assert.deepEqual(
      parseChallenge(
        'Bearer realm="http://127.0.0.1:15003/token",service="rig-registry",scope="repository:a/b:pull,push"',
      ),
      [{
        scheme: "bearer",
        params: {
          realm: "http://127.0.0.1:15003/token",
          service: "rig-registry",
          scope: "repository:a/b:pull,push",
        },
      }],
    );
  });

  it("parses Basic and several challenges in one header", () => {
    assert.deepEqual(parseChallenge('Basic realm="x", Bearer realm="y",error=invalid_token'), [
      { scheme: "basic", params: { realm: "x" } },
      { scheme: "bearer", params: { realm: "y", error: "invalid_token" } },
    ]);
  });

  it("returns nothing for an empty header", () => {
    assert.deepEqual(parseChallenge(""), []);
    assert.deepEqual(parseChallenge(null), []);
  });
});
