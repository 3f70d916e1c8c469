import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { loadTls } from "../../lib/server/load_tls.ts";

/** A directory with a fresh self-signed certificate and key (from openssl), and a second key. */
async function tlsFixture() {
  const dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-tls-"));
  const cert = nodePath.join(dir, "cert.pem");
  const key = nodePath.join(dir, "key.pem");
  const otherKey = nodePath.join(dir, "other-key.pem");
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], { stdio: "ignore" });
  execFileSync("openssl", [
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    otherKey,
  ], {
    stdio: "ignore",
  });
  return { dir, cert, key, otherKey, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

async function usageError(promise: Promise<unknown>): Promise<UsageError> {
  const error = await promise.then(() => undefined, (e) => e);
  assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
  assert.ok(!error.message.includes("\n"), error.message);
  return error;
}

test("loadTls() returns undefined when neither file is given", async () => {
  assert.equal(await loadTls(undefined, undefined), undefined);
});

test("loadTls() reads a matching certificate and key", async () => {
  const f = await tlsFixture();
  try {
    const tls = await loadTls(f.cert, f.key);
    assert.match(tls?.cert ?? "", /BEGIN CERTIFICATE/);
    assert.match(tls?.key ?? "", /PRIVATE KEY/);
  } finally {
    await f.remove();
  }
});

test("loadTls() refuses a certificate without a key, and a key without a certificate", async () => {
  const f = await tlsFixture();
  try {
    assert.match((await usageError(loadTls(f.cert, undefined))).message, /go together/);
    assert.match((await usageError(loadTls(undefined, f.key))).message, /go together/);
  } finally {
    await f.remove();
  }
});

test("loadTls() names a missing file", async () => {
  const f = await tlsFixture();
  try {
    const missing = nodePath.join(f.dir, "missing.pem");
    const error = await usageError(loadTls(missing, f.key));
    assert.ok(error.message.includes(`"${missing}"`), error.message);
    assert.match(error.message, /ENOENT/);
    assert.ok((await usageError(loadTls(f.cert, missing))).message.includes("TLS key"));
  } finally {
    await f.remove();
  }
});

test("loadTls() refuses garbage instead of a certificate or a key", async () => {
  const f = await tlsFixture();
  try {
    const garbage = nodePath.join(f.dir, "garbage.pem");
    await fs.writeFile(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n");
    assert.match((await usageError(loadTls(garbage, f.key))).message, /not a PEM certificate/);
    assert.match((await usageError(loadTls(f.cert, garbage))).message, /not a PEM private key/);
    // A key where the certificate should be, and the reverse.
    assert.match((await usageError(loadTls(f.key, f.key))).message, /not a PEM certificate/);
    assert.match((await usageError(loadTls(f.cert, f.cert))).message, /not a PEM private key/);
  } finally {
    await f.remove();
  }
});

test("loadTls() refuses a key that does not belong to the certificate", async () => {
  const f = await tlsFixture();
  try {
    assert.match((await usageError(loadTls(f.cert, f.otherKey))).message, /does not match/);
  } finally {
    await f.remove();
  }
});

test("loadTls() names an unreadable file", async () => {
  const f = await tlsFixture();
  try {
    // A directory cannot be read as a file, even by root (who can read any mode-000 file).
    const error = await usageError(loadTls(f.dir, f.key));
    assert.match(error.message, /EISDIR|Cannot read/);
  } finally {
    await f.remove();
  }
});
