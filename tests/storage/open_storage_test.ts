import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { HttpStorage } from "../../lib/storage/http_storage.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import {
  isRemoteLocation,
  openStorage,
  openWritableStorage,
} from "../../lib/storage/open_storage.ts";
import { S3Storage } from "../../lib/storage/s3_storage.ts";

test("openStorage() opens http(s) URLs as HttpStorage and anything else as a directory", () => {
  assert.ok(openStorage("https://tiup-mirrors.pingcap.com") instanceof HttpStorage);
  assert.ok(openStorage("HTTP://10.0.0.1:8080/mirror") instanceof HttpStorage);
  assert.ok(openStorage("/srv/mirror") instanceof LocalStorage);
  assert.ok(openStorage("relative/dir") instanceof LocalStorage);
  assert.equal(isRemoteLocation("httpdocs/mirror"), false);
});

test("openStorage() opens s3://BUCKET/PREFIX as S3Storage, for reading and writing", () => {
  const reader = openStorage("s3://ferry-mirrors/tidb/lan");
  assert.ok(reader instanceof S3Storage);
  assert.equal(reader.location, "s3://ferry-mirrors/tidb/lan");
  assert.ok(openWritableStorage("s3://ferry-mirrors") instanceof S3Storage);
  assert.equal(isRemoteLocation("s3://ferry-mirrors"), false);
});

test("openStorage() refuses a bad bucket or a traversal prefix with a UsageError", () => {
  for (const bad of ["s3://", "s3://UPPER/x", "s3://b/x", "s3://ferry/../etc", "s3://ferry/a//b"]) {
    assert.throws(() => openStorage(bad), UsageError, bad);
  }
});

test("openStorage() reads S3 credentials on first use: missing ones fail then, clearly", async () => {
  const storage = openStorage("s3://ferry-mirrors/x", { env: { HOME: "/nonexistent" } });
  const error = await storage.stat("root.json").catch((e) => e);
  assert.ok(error instanceof UsageError, String(error));
  assert.match(error.message, /AWS_ACCESS_KEY_ID/);
});

test("openWritableStorage() refuses an HTTP location with a clear error", () => {
  assert.throws(() => openWritableStorage("https://mirror.example"), /only local directories/);
  assert.ok(openWritableStorage("/tmp/x") instanceof LocalStorage);
});
