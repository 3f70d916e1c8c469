import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CircuitBreaker } from "../../proxy/circuit_breaker.ts";

function breaker() {
  const clock = { now: 1_000_000 };
  return {
    clock,
    b: new CircuitBreaker({ failures: 3, cooldownMs: 10_000, now: () => new Date(clock.now) }),
  };
}

describe("CircuitBreaker", () => {
  it("stays closed below the failure threshold and after a success", () => {
    const { b } = breaker();
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    assert.equal(b.open, false);
    assert.equal(b.blockedFor(), 0);
  });

  it("opens after the threshold and refuses for the cooldown", () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    assert.equal(b.open, true);
    assert.equal(b.blockedFor(), 10_000);
    clock.now += 4_000;
    assert.equal(b.blockedFor(), 6_000);
  });

  it("lets exactly one probe through after the cooldown", () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    clock.now += 10_000;
    assert.equal(b.blockedFor(), 0, "the probe");
    assert.equal(b.blockedFor(), 10_000, "the others wait for the probe's outcome");
  });

  it("closes when the probe succeeds and reopens when it fails", () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    clock.now += 10_000;
    b.blockedFor();
    b.failure();
    assert.equal(b.open, true);
    clock.now += 10_000;
    assert.equal(b.blockedFor(), 0);
    b.success();
    assert.equal(b.open, false);
    assert.equal(b.blockedFor(), 0);
  });
});
