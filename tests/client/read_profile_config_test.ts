import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { readProfileConfig } from "../../lib/client/read_profile_config.ts";

let home: string;

beforeEach(async () => {
  home = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-config-test-"));
});
afterEach(async () => {
  await fs.rm(home, { recursive: true, force: true });
});

const ferryToml = () => nodePath.join(home, "ferry.toml");
const tiupToml = () => nodePath.join(home, "tiup.toml");

describe("readProfileConfig()", () => {
  it("gives {} when neither ferry.toml nor tiup.toml exists", async () => {
    assert.deepEqual(await readProfileConfig(home), {});
  });

  it("reads TiUP's tiup.toml as TiUP writes it", async () => {
    await fs.writeFile(tiupToml(), 'mirror = "https://tiup-mirrors.pingcap.com/"\n');
    assert.deepEqual(await readProfileConfig(home), {
      mirror: "https://tiup-mirrors.pingcap.com/",
      file: tiupToml(),
    });
  });

  it("prefers tiup.toml over a stale ferry.toml (fault: tiup and ferry saw different mirrors)", async () => {
    await fs.writeFile(tiupToml(), 'mirror = "/from/tiup"\n');
    await fs.writeFile(ferryToml(), 'mirror = "/from/ferry"\n');
    assert.deepEqual(await readProfileConfig(home), { mirror: "/from/tiup", file: tiupToml() });
  });

  it("falls back to ferry.toml when tiup.toml names no mirror", async () => {
    await fs.writeFile(tiupToml(), 'mirror = ""\n');
    await fs.writeFile(ferryToml(), 'mirror = "/from/ferry"\n');
    assert.deepEqual(await readProfileConfig(home), { mirror: "/from/ferry", file: ferryToml() });
    await fs.rm(ferryToml());
    assert.deepEqual(await readProfileConfig(home), { file: tiupToml() });
  });

  const table: [string, string | undefined][] = [
    ['mirror = "a b"  # comment', "a b"],
    ["mirror='C:\\path'", "C:\\path"],
    ['mirror = "tab\\there \\u00e9 \\"q\\""', 'tab\there é "q"'],
    ['# mirror = "commented"\nother = 1', undefined],
    ['[section]\nmirror = "not top level"', undefined],
  ];
  for (const [text, expected] of table) {
    it(`reads ${JSON.stringify(text)}`, async () => {
      await fs.writeFile(ferryToml(), text);
      assert.equal((await readProfileConfig(home)).mirror, expected);
    });
  }

  it("throws SyntaxError naming the file and line for a mirror that is not a string", async () => {
    await fs.writeFile(ferryToml(), "# config\nmirror = http://x\n");
    await assert.rejects(readProfileConfig(home), (error: unknown) => {
      assert.ok(error instanceof SyntaxError);
      assert.match(error.message, /ferry\.toml" line 2: mirror must be a quoted string/);
      return true;
    });
  });
});
