import assert from "node:assert/strict";
import { test } from "node:test";
import { downloadErrors } from "../../lib/http/download_errors.ts";
import { DownloadError } from "../../lib/errors.ts";

const POLICY = { deadlineAllowanceMs: 30_000, idleTimeoutMs: 30_000, minBytesPerSecond: 1024 };
const URL = "https://mirror.lan:9443/root.json";

/** What the policy reports when a request got no answer, as the error it is. */
function noAnswer(error: unknown): DownloadError {
  const made = downloadErrors(URL, POLICY).noAnswer({ timedOut: false, waitedMs: 0, error });
  assert.ok(made instanceof DownloadError);
  return made;
}

test("downloadErrors() names the causes of a failed request (Deno's fetch says only 'fetch failed')", () => {
  const error = new TypeError("fetch failed", {
    cause: new Error("client error (Connect)", { cause: new Error("tcp connect error") }),
  });
  assert.equal(
    noAnswer(error).message,
    `Cannot fetch "${URL}": fetch failed: client error (Connect): tcp connect error`,
  );
});

test("downloadErrors() says a refused TLS handshake may want a client certificate", () => {
  for (
    const error of [
      new TypeError("fetch failed", {
        cause: new Error("received fatal alert: CertificateRequired"),
      }),
      Object.assign(new Error("EPROTO: The TLS handshake failed. Does the server speak TLS?"), {
        code: "EPROTO",
      }),
    ]
  ) {
    assert.match(noAnswer(error).message, /\(the server (asks|may ask) for a client certificate/);
  }
  assert.doesNotMatch(noAnswer(new Error("Connection refused")).message, /client certificate/);
});
