import assert from "node:assert/strict";
import { test } from "node:test";
import { DownloadError } from "../../lib/errors.ts";
import { HttpStorage } from "../../lib/storage/http_storage.ts";

test("HttpStorage's no-answer message states the whole wait (a silent server is asked once)", async () => {
  let calls = 0;
  // A server that accepts the request and never answers: the attempt ends at its deadline.
  const silent = (request: Request) => {
    calls++;
    return new Promise<Response>((_, reject) => {
      request.signal.addEventListener("abort", () => reject(new Error("aborted")));
    });
  };
  const reader = new HttpStorage("http://mirror.test/", {
    fetch: silent,
    headersTimeoutMs: 200,
    retries: 2,
    retryDelayMs: 1,
  });
  await assert.rejects(
    reader.read("timestamp.json"),
    (error) => error instanceof DownloadError && /no answer within 0\.2 s$/.test(error.message),
  );
  // Before, each of 3 attempts waited the timeout while the message named only one of them.
  assert.equal(calls, 1, "silence is not retried, so the stated wait is the whole wait");
});
