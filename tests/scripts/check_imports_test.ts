import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import * as nodePath from "node:path";
import { describe, it } from "node:test";
import { findImportViolations, judgeImport } from "../../scripts/check_imports.ts";
import { makeTempDir } from "../e2e/_cli.ts";

describe("the import-direction check", () => {
  it("lets a role folder import lower floors and its own folder", () => {
    assert.equal(
      judgeImport("lib/writer/plan_publish.ts", "lib/trust/verify_manifest.ts"),
      undefined,
    );
    assert.equal(judgeImport("lib/mirror/clone/a.ts", "lib/mirror/verify_mirror.ts"), undefined);
    assert.equal(judgeImport("lib/trust/a.ts", "lib/errors.ts"), undefined);
    assert.equal(judgeImport("commands/mirror/clone.ts", "lib/cli/output.ts"), undefined);
    assert.equal(judgeImport("commands/proxy.ts", "proxy/create_registry_proxy.ts"), undefined);
    assert.equal(
      judgeImport("proxy/parse_proxy_config.ts", "lib/cli/parse_key_value.ts"),
      undefined,
    );
  });

  it("refuses an import that goes up or sideways", () => {
    assert.match(
      judgeImport("lib/format/decode_manifest.ts", "lib/trust/trusted_set.ts") ?? "",
      /floor 2.*must not import lib\/trust/,
    );
    assert.match(judgeImport("lib/storage/a.ts", "lib/format/b.ts") ?? "", /must not import/);
    assert.match(judgeImport("lib/server/a.ts", "proxy/b.ts") ?? "", /must not import proxy/);
    assert.match(judgeImport("proxy/a.ts", "commands/b.ts") ?? "", /must not import commands/);
    assert.match(judgeImport("lib/mirror/a.ts", "lib/cli/progress.ts") ?? "", /lib\/cli/);
    assert.match(judgeImport("lib/errors.ts", "main.ts") ?? "", /nothing imports main\.ts/);
    assert.match(judgeImport("lib/newthing/a.ts", "lib/errors.ts") ?? "", /no floor/);
  });

  it("finds a wrong-way import in a tree, static or dynamic", async () => {
    const { dir: root, remove } = await makeTempDir("ferry-imports");
    try {
      mkdirSync(nodePath.join(root, "lib/format"), { recursive: true });
      mkdirSync(nodePath.join(root, "lib/trust"), { recursive: true });
      mkdirSync(nodePath.join(root, "commands"));
      mkdirSync(nodePath.join(root, "proxy"));
      writeFileSync(
        nodePath.join(root, "lib/trust/ok.ts"),
        'import { x } from "../format/a.ts";\n',
      );
      writeFileSync(
        nodePath.join(root, "lib/format/a.ts"),
        'export const x = 1;\nconst later = () => import("../trust/ok.ts");\n',
      );
      const found = findImportViolations(root);
      assert.deepEqual(found.map((v) => [v.file, v.target]), [[
        "lib/format/a.ts",
        "lib/trust/ok.ts",
      ]]);
    } finally {
      await remove();
    }
  });
});
