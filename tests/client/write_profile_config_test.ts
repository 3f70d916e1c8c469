import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { readProfileConfig } from "../../lib/client/read_profile_config.ts";
import { writeProfileConfig } from "../../lib/client/write_profile_config.ts";

let home: string;

beforeEach(async () => {
  home = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-config-test-"));
});
afterEach(async () => {
  await fs.rm(home, { recursive: true, force: true });
});

const ferryToml = () => nodePath.join(home, "ferry.toml");
const tiupToml = () => nodePath.join(home, "tiup.toml");

describe("writeProfileConfig()", () => {
  it("creates the profile directory and ferry.toml, and reads back what it wrote", async () => {
    const nested = nodePath.join(home, "new-profile");
    const tricky = 'http://127.0.0.1:8080/a "quoted" \\ path';
    await writeProfileConfig(nested, { mirror: tricky });
    assert.equal((await readProfileConfig(nested)).mirror, tricky);
    assert.deepEqual(await fs.readdir(nested), ["ferry.toml"]);
  });

  it("replaces the mirror line and keeps comments and other keys", async () => {
    await fs.writeFile(ferryToml(), '# mine\nmirror = "/old"\nother = "x"\n[t]\nk = 1\n');
    await writeProfileConfig(home, { mirror: "/new" });
    assert.equal(
      await fs.readFile(ferryToml(), "utf8"),
      '# mine\nmirror = "/new"\nother = "x"\n[t]\nk = 1\n',
    );
  });

  it("adds the mirror key at the top, before any table", async () => {
    await fs.writeFile(ferryToml(), "[t]\nk = 1\n");
    await writeProfileConfig(home, { mirror: "/m" });
    assert.equal(await fs.readFile(ferryToml(), "utf8"), 'mirror = "/m"\n[t]\nk = 1\n');
  });

  it("removes the mirror key when mirror is undefined", async () => {
    await fs.writeFile(ferryToml(), 'mirror = "/old"\nother = "x"\n');
    await writeProfileConfig(home, {});
    assert.equal(await fs.readFile(ferryToml(), "utf8"), 'other = "x"\n');
  });

  it("writes tiup.toml in a TiUP profile, as TiUP writes it (fault: ferry.toml unseen by tiup)", async () => {
    const file = await writeProfileConfig(home, { mirror: "/m" }, { tiupProfile: true });
    assert.equal(file, tiupToml());
    assert.equal(await fs.readFile(tiupToml(), "utf8"), 'mirror = "/m"\n');
    assert.deepEqual(await fs.readdir(home), ["tiup.toml"]);
  });

  it("writes an existing tiup.toml, drops a stale ferry.toml mirror, leaves no temporary file", async () => {
    await fs.writeFile(tiupToml(), 'mirror = "/tiup"\n');
    await fs.writeFile(ferryToml(), '# mine\nmirror = "/stale"\nother = "x"\n');
    await writeProfileConfig(home, { mirror: "/ferry" });
    assert.equal(await fs.readFile(tiupToml(), "utf8"), 'mirror = "/ferry"\n');
    assert.equal(await fs.readFile(ferryToml(), "utf8"), '# mine\nother = "x"\n');
    assert.deepEqual((await fs.readdir(home)).sort(), ["ferry.toml", "tiup.toml"]);
    assert.equal((await readProfileConfig(home)).mirror, "/ferry");
  });

  it("refuses a mirror address with a line break", async () => {
    await assert.rejects(writeProfileConfig(home, { mirror: '/a\nmirror = "/evil"' }), RangeError);
    await assert.rejects(fs.stat(ferryToml()));
  });
});
