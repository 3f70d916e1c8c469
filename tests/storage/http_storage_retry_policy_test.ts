/**
 * HttpStorage under the shared fetch policy (lib/http): what is retried and what is not.
 * Attempts are counted; nothing here measures time.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HttpStatusError } from "../../lib/errors.ts";
import { type FetchFn, HttpStorage } from "../../lib/storage/http_storage.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";

/** A storage over a server that answers request n with answer(n), and its request count. */
function counting(answer: (n: number) => Response) {
  let calls = 0;
  const fetch: FetchFn = () => Promise.resolve(answer(calls++));
  const storage = new HttpStorage("http://mirror.test", { fetch, retries: 3, retryDelayMs: 1 });
  return { storage, calls: () => calls };
}

test("HttpStorage passes on a 429 whose Retry-After is beyond bounds instead of hammering", async () => {
  const server = counting(() =>
    new Response("slow down", { status: 429, headers: { "retry-after": "3600" } })
  );
  const error = await server.storage.read("timestamp.json").catch((e) => e);
  assert.ok(error instanceof HttpStatusError, String(error));
  assert.equal(error.status, 429);
  assert.equal(server.calls(), 1, "an hour's Retry-After is not waited for, nor ignored");
});

test("HttpStorage retries a 503 whose Retry-After is within bounds", async () => {
  const server = counting((n) =>
    n === 0
      ? new Response("busy", { status: 503, headers: { "retry-after": "0" } })
      : new Response("ok")
  );
  const object = await server.storage.read("a.json");
  assert.equal(new TextDecoder().decode(await collectBytes(object.body)), "ok");
  assert.equal(server.calls(), 2);
});

test("HttpStorage does not retry a 500 (a server fault, not a transient one)", async () => {
  const server = counting(() => new Response("bug", { status: 500 }));
  const error = await server.storage.read("a.json").catch((e) => e);
  assert.ok(error instanceof HttpStatusError, String(error));
  assert.equal(server.calls(), 1);
});
