/**
 * S3Storage.presignGet(): the URL `mirror serve --redirect-large` sends clients to. Signing is
 * local, so these run without a server; the e2e suite (tests/e2e/serve_s3_test.ts) fetches such
 * URLs from the real Ceph RGW.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { S3Storage } from "../../lib/storage/s3_storage.ts";

const CONFIG = {
  endpoint: "http://127.0.0.1:7480",
  region: "eu-west-3",
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "secret",
  pathStyle: true,
};

test("S3Storage.presignGet() signs a path-style GET in the query, valid for the given time", async () => {
  const storage = new S3Storage({ bucket: "mirrors", prefix: "tidb/" }, { config: CONFIG });
  const url = new URL(await storage.presignGet("tidb v1+x.tar.gz", { expiresInSeconds: 300 }));
  assert.equal(url.origin, "http://127.0.0.1:7480");
  assert.equal(url.pathname, "/mirrors/tidb/tidb%20v1%2Bx.tar.gz");
  assert.equal(url.searchParams.get("X-Amz-Expires"), "300");
  assert.equal(url.searchParams.get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
  assert.match(
    url.searchParams.get("X-Amz-Credential") ?? "",
    /^AKIDEXAMPLE\/\d{8}\/eu-west-3\/s3\/aws4_request$/,
  );
  assert.equal(url.searchParams.get("X-Amz-SignedHeaders"), "host");
  assert.match(url.searchParams.get("X-Amz-Signature") ?? "", /^[0-9a-f]{64}$/);
});

test("S3Storage.presignGet() puts the bucket in the host name for AWS's own endpoint", async () => {
  const aws = { ...CONFIG, endpoint: "https://s3.eu-west-3.amazonaws.com", pathStyle: false };
  const storage = new S3Storage({ bucket: "mirrors", prefix: "" }, { config: aws });
  const url = new URL(await storage.presignGet("a.tar.gz", { expiresInSeconds: 60 }));
  assert.equal(url.host, "mirrors.s3.eu-west-3.amazonaws.com");
  assert.equal(url.pathname, "/a.tar.gz");
});

test("S3Storage.presignGet() carries a session token, and refuses expiries S3 does not accept", async () => {
  const storage = new S3Storage({ bucket: "mirrors", prefix: "" }, {
    config: { ...CONFIG, sessionToken: "token/with+chars" },
  });
  const url = new URL(await storage.presignGet("a.tar.gz", { expiresInSeconds: 60 }));
  assert.equal(url.searchParams.get("X-Amz-Security-Token"), "token/with+chars");
  for (const seconds of [0, 604_801, Number.NaN]) {
    await assert.rejects(storage.presignGet("a", { expiresInSeconds: seconds }), RangeError);
  }
  await assert.rejects(storage.presignGet("../keys/x", { expiresInSeconds: 60 }));
});
