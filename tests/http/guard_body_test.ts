import assert from "node:assert/strict";
import { test } from "node:test";
import { type BodyFailure, guardBody } from "../../lib/http/guard_body.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";

class Failed extends Error {
  constructor(readonly failure: BodyFailure) {
    super(failure.kind);
  }
}

function guarded(
  source: ReadableStream<Uint8Array>,
  limits: Partial<Parameters<typeof guardBody>[1]>,
) {
  let aborted = 0;
  const body = guardBody(source, {
    idleMs: 60_000,
    abort: () => aborted++,
    toError: (failure) => new Failed(failure),
    ...limits,
  });
  return { body, aborted: () => aborted };
}

function chunks(...parts: number[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const n of parts) controller.enqueue(new Uint8Array(n));
      controller.close();
    },
  });
}

test("guardBody() passes a body within its limits through unchanged", async () => {
  const { body, aborted } = guarded(chunks(3, 4), { maxBytes: 7, expectedBytes: 7 });
  assert.equal((await collectBytes(body)).length, 7);
  assert.equal(aborted(), 0);
});

test("guardBody() refuses bytes past the cap and closes the connection", async () => {
  const { body, aborted } = guarded(chunks(5, 5), { maxBytes: 8 });
  const error = await collectBytes(body).catch((e) => e);
  assert.deepEqual(error.failure, { kind: "too-large", limit: 8 });
  assert.equal(aborted(), 1);
});

test("guardBody() reports a body cut short of its Content-Length as truncated", async () => {
  const { body } = guarded(chunks(50), { expectedBytes: 100 });
  const error = await collectBytes(body).catch((e) => e);
  assert.deepEqual(error.failure, { kind: "truncated", bytes: 50, expected: 100 });
});

test("guardBody() fails a source that stalls while the reader waits", async () => {
  const silent = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
  const { body, aborted } = guarded(silent, { idleMs: 20 });
  const error = await collectBytes(body).catch((e) => e);
  assert.deepEqual(error.failure, { kind: "stalled", idleMs: 20 });
  assert.equal(aborted(), 1);
});

test("guardBody() does not count a slow reader's pauses as a stall", async () => {
  const { body } = guarded(chunks(1, 1, 1), { idleMs: 20 });
  const reader = body.getReader();
  let total = 0;
  for (;;) {
    // The reader dawdles longer than idleMs between reads; the source was never idle.
    await new Promise((resolve) => setTimeout(resolve, 40));
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
  }
  assert.equal(total, 3);
});

test("guardBody() fails a body not in by its deadline (a slow drip)", async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drip = new ReadableStream<Uint8Array>({
    pull: (controller) =>
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(controller.enqueue(new Uint8Array(1))), 5);
      }),
    cancel: () => clearTimeout(timer),
  });
  const { body } = guarded(drip, { idleMs: 1_000, deadline: performance.now() + 50 });
  const error = await collectBytes(body).catch((e) => e);
  assert.equal(error.failure?.kind, "too-slow");
  clearTimeout(timer);
});

test("guardBody() reports a source that breaks off as broken, with its error", async () => {
  const broken = new ReadableStream<Uint8Array>({
    pull: () => Promise.reject(new TypeError("connection reset")),
  });
  const { body } = guarded(broken, {});
  const error = await collectBytes(body).catch((e) => e);
  assert.equal(error.failure?.kind, "broken");
  assert.match(String(error.failure.error), /connection reset/);
});
