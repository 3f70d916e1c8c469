import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { normalizeMirrorAddress } from "../../lib/client/normalize_mirror_address.ts";
import { DEFAULT_MIRROR, resolveMirrorAddress } from "../../lib/client/resolve_mirror_address.ts";
import { UsageError } from "../../lib/errors.ts";
import { tempHome } from "./_client_mirror.ts";

describe("normalizeMirrorAddress()", () => {
  it("makes a relative directory absolute", () => {
    assert.equal(normalizeMirrorAddress("mirror", "/srv"), "/srv/mirror");
    assert.equal(normalizeMirrorAddress("/data/m/", "/srv"), "/data/m");
  });
  it("keeps an http(s) address exactly, trailing slash included (it names the cached root)", () => {
    assert.equal(normalizeMirrorAddress("http://127.0.0.1:8080/"), "http://127.0.0.1:8080/");
    assert.equal(normalizeMirrorAddress("HTTPS://m.example/x"), "HTTPS://m.example/x");
  });
  it("refuses an empty address and one with a line break (it would corrupt ferry.toml)", () => {
    assert.throws(() => normalizeMirrorAddress("  "), UsageError);
    assert.throws(() => normalizeMirrorAddress('http://x\nmirror = "evil"'), UsageError);
  });
});

describe("resolveMirrorAddress()", () => {
  let home: string;
  beforeEach(async () => (home = await tempHome()));
  afterEach(async () => await fs.rm(home, { recursive: true, force: true }));

  it("uses the default mirror when nothing names one", async () => {
    assert.deepEqual(await resolveMirrorAddress(home, {}), {
      address: DEFAULT_MIRROR,
      source: "default",
    });
  });
  it("prefers FERRY_MIRROR, then TIUP_MIRRORS, then ferry.toml", async () => {
    await fs.writeFile(nodePath.join(home, "ferry.toml"), 'mirror = "http://config"\n');
    const env = { FERRY_MIRROR: "http://ferry", TIUP_MIRRORS: "http://tiup" };
    assert.equal((await resolveMirrorAddress(home, env)).address, "http://ferry");
    assert.equal(
      (await resolveMirrorAddress(home, { TIUP_MIRRORS: "http://tiup" })).source,
      "TIUP_MIRRORS",
    );
    const fromConfig = await resolveMirrorAddress(home, {});
    assert.equal(fromConfig.address, "http://config");
    assert.equal(fromConfig.source, "config");
    assert.equal(fromConfig.configFile, nodePath.join(home, "ferry.toml"));
  });
  it("reads TiUP's tiup.toml when there is no ferry.toml", async () => {
    await fs.writeFile(nodePath.join(home, "tiup.toml"), 'mirror = "/data/tiup"\n');
    const found = await resolveMirrorAddress(home, { TIUP_MIRRORS: "rel" }, "/work");
    assert.equal(found.address, "/work/rel");
    assert.equal(found.configured, "/data/tiup");
  });
});
