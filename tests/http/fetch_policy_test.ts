import assert from "node:assert/strict";
import { test } from "node:test";
import type { FetchLike } from "../../lib/http/fetch_like.ts";
import { DEFAULT_FETCH_POLICY, fetchWithPolicy } from "../../lib/http/fetch_policy.ts";

const POLICY = { ...DEFAULT_FETCH_POLICY, retryDelayMs: 1 };
const ERRORS = {
  noAnswer: (failure: { timedOut: boolean }) =>
    new Error(failure.timedOut ? "no answer" : "network"),
  body: (failure: { kind: string }) => new Error(failure.kind),
};

/** A server that answers request n with answer(n), and what it was sent. */
function server(answer: (n: number) => Response | Error) {
  const seen: Array<{ method: string; body: string | undefined }> = [];
  const fetch: FetchLike = async (input, init) => {
    const request = new Request(input, init);
    seen.push({
      method: request.method,
      body: request.body ? await request.text() : undefined,
    });
    const result = answer(seen.length - 1);
    if (result instanceof Error) throw result;
    return result;
  };
  return { fetch, seen };
}

test("fetchWithPolicy() sends an in-memory PUT body again after a 503", async () => {
  const s = server((n) => new Response(null, { status: n === 0 ? 503 : 200 }));
  const response = await fetchWithPolicy(
    s.fetch,
    "http://store.test/key",
    {
      method: "PUT",
      body: new TextEncoder().encode("object"),
    },
    POLICY,
    { errors: ERRORS },
  );
  assert.equal(response.status, 200);
  assert.deepEqual(s.seen.map((r) => r.body), ["object", "object"]);
});

test("fetchWithPolicy() sends a streamed body once (it cannot be replayed)", async () => {
  const s = server(() => new Response(null, { status: 503 }));
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("object"));
      controller.close();
    },
  });
  const response = await fetchWithPolicy(
    s.fetch,
    "http://store.test/key",
    {
      method: "PUT",
      body,
      duplex: "half",
    } as RequestInit,
    POLICY,
    { errors: ERRORS },
  );
  assert.equal(response.status, 503);
  assert.equal(s.seen.length, 1);
});

test("fetchWithPolicy() never retries a POST", async () => {
  const s = server(() => new TypeError("connection reset"));
  await assert.rejects(
    fetchWithPolicy(s.fetch, "http://store.test/?uploads", { method: "POST" }, POLICY, {
      errors: ERRORS,
    }),
    /network/,
  );
  assert.equal(s.seen.length, 1);
});

test("fetchWithPolicy() refuses a Content-Length over the cap before reading the body", async () => {
  const s = server(() => new Response("x".repeat(100), { headers: { "content-length": "100" } }));
  await assert.rejects(
    fetchWithPolicy(s.fetch, "http://store.test/big", { method: "GET" }, POLICY, {
      maxBytes: 10,
      errors: ERRORS,
    }),
    /too-large/,
  );
});

test("fetchWithPolicy() stops at once when the caller's signal is aborted", async () => {
  const controller = new AbortController();
  const hang: FetchLike = (_input, init) =>
    new Promise((_resolve, reject) => {
      init.signal?.addEventListener("abort", () => reject(new Error("aborted")));
      controller.abort(new Error("stopped by the user"));
    });
  await assert.rejects(
    fetchWithPolicy(hang, "http://store.test/key", { method: "GET" }, POLICY, {
      signal: controller.signal,
      errors: ERRORS,
    }),
    /stopped by the user/,
  );
});
