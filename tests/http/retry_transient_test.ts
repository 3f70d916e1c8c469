import assert from "node:assert/strict";
import { test } from "node:test";
import { retryTransient } from "../../lib/http/retry_transient.ts";

const POLICY = { retries: 3, retryDelayMs: 1 };

function attempts(answer: (n: number) => Response | Error) {
  let calls = 0;
  const attempt = () => {
    const result = answer(calls++);
    return result instanceof Error ? Promise.reject(result) : Promise.resolve({ response: result });
  };
  return { attempt, calls: () => calls };
}

test("retryTransient() retries 408, 429, 502, 503 and 504 and returns the recovery", async () => {
  for (const status of [408, 429, 502, 503, 504]) {
    const server = attempts((n) => new Response(null, { status: n === 0 ? status : 200 }));
    const { response } = await retryTransient(server.attempt, POLICY, { method: "GET" });
    assert.equal(response.status, 200, `after ${status}`);
    assert.equal(server.calls(), 2, `after ${status}`);
  }
});

test("retryTransient() returns a final status that is not transient at once", async () => {
  for (const status of [400, 401, 403, 404, 500, 501]) {
    const server = attempts(() => new Response(null, { status }));
    const { response } = await retryTransient(server.attempt, POLICY, { method: "GET" });
    assert.equal(response.status, status);
    assert.equal(server.calls(), 1, `${status} is asked once`);
  }
});

test("retryTransient() never sends a non-idempotent request twice", async () => {
  const server = attempts(() => new Response(null, { status: 503 }));
  const { response } = await retryTransient(server.attempt, POLICY, { method: "POST" });
  assert.equal(response.status, 503);
  assert.equal(server.calls(), 1);
});

test("retryTransient() sends a request whose body cannot be replayed once", async () => {
  const server = attempts(() => new TypeError("connection reset"));
  await assert.rejects(
    retryTransient(server.attempt, POLICY, {
      method: "PUT",
      replayable: false,
      isTransientError: () => true,
    }),
    /connection reset/,
  );
  assert.equal(server.calls(), 1);
});

test("retryTransient() retries only errors the caller calls transient, within the budget", async () => {
  const flaky = attempts(() => new TypeError("connection reset"));
  await assert.rejects(
    retryTransient(flaky.attempt, POLICY, { method: "GET", isTransientError: () => true }),
    /connection reset/,
  );
  assert.equal(flaky.calls(), 4, "1 attempt + 3 retries");
  const fatal = attempts(() => new Error("certificate"));
  await assert.rejects(retryTransient(fatal.attempt, POLICY, { method: "GET" }), /certificate/);
  assert.equal(fatal.calls(), 1);
});

test("retryTransient() does not wait for a Retry-After beyond its bound", async () => {
  const server = attempts(() =>
    new Response(null, { status: 503, headers: { "retry-after": "120" } })
  );
  const { response } = await retryTransient(server.attempt, {
    ...POLICY,
    maxRetryAfterMs: 10_000,
  }, { method: "GET" });
  assert.equal(response.status, 503);
  assert.equal(server.calls(), 1);
});

test("retryTransient() stops retrying once mayRetry() says no (an open breaker)", async () => {
  const events: Array<[number | "error", boolean]> = [];
  const server = attempts(() => new Response(null, { status: 503 }));
  const { response } = await retryTransient(server.attempt, POLICY, {
    method: "GET",
    mayRetry: () => server.calls() < 2,
    onAttempt: (status, retrying) => events.push([status, retrying]),
  });
  assert.equal(response.status, 503);
  assert.deepEqual(events, [[503, true], [503, false]]);
});

test("retryTransient() stops waiting between attempts when its signal is aborted", async () => {
  const controller = new AbortController();
  const server = attempts(() => {
    controller.abort(new Error("stopped by the user"));
    return new Response(null, { status: 503 });
  });
  await assert.rejects(
    retryTransient(server.attempt, { retries: 3, retryDelayMs: 60_000 }, {
      method: "GET",
      signal: controller.signal,
    }),
    /stopped by the user/,
  );
  assert.equal(server.calls(), 1);
});
