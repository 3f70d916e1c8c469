import assert from "node:assert/strict";
import { test } from "node:test";
import { DownloadError } from "../../lib/errors.ts";
import { HttpStorage } from "../../lib/storage/http_storage.ts";

test("HttpStorage says how many attempts a silent server got, not only one timeout", async () => {
  let calls = 0;
  // A server that accepts the request and never answers: each attempt ends at its deadline.
  const silent = (request: Request) => {
    calls++;
    return new Promise<Response>((_, reject) => {
      request.signal.addEventListener("abort", () => reject(new Error("aborted")));
    });
  };
  const reader = new HttpStorage("http://mirror.test/", {
    fetch: silent,
    headersTimeoutMs: 20,
    retries: 2,
    retryDelayMs: 1,
  });
  await assert.rejects(
    reader.read("timestamp.json"),
    (error) =>
      error instanceof DownloadError &&
      /no answer within 0\.02 s \(3 attempt\(s\), \d+ s in all\)$/.test(error.message),
  );
  assert.equal(calls, 3);
});
