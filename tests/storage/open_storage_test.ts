import assert from "node:assert/strict";
import { test } from "node:test";
import { HttpStorage } from "../../lib/storage/http_storage.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import {
  isRemoteLocation,
  openStorage,
  openWritableStorage,
} from "../../lib/storage/open_storage.ts";

test("openStorage() opens http(s) URLs as HttpStorage and anything else as a directory", () => {
  assert.ok(openStorage("https://tiup-mirrors.pingcap.com") instanceof HttpStorage);
  assert.ok(openStorage("HTTP://10.0.0.1:8080/mirror") instanceof HttpStorage);
  assert.ok(openStorage("/srv/mirror") instanceof LocalStorage);
  assert.ok(openStorage("relative/dir") instanceof LocalStorage);
  assert.equal(isRemoteLocation("httpdocs/mirror"), false);
});

test("openWritableStorage() refuses an HTTP location with a clear error", () => {
  assert.throws(() => openWritableStorage("https://mirror.example"), /only local directories/);
  assert.ok(openWritableStorage("/tmp/x") instanceof LocalStorage);
});
