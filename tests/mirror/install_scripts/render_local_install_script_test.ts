import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import { renderLocalInstallScript } from "../../../lib/mirror/install_scripts/render_local_install_script.ts";
import { clientTarball, fileSha256, hostSuffix, runScript } from "./_script_env.ts";

async function mirrorWith(clients: Array<"ferry" | "tiup">) {
  const base = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-local-install-"));
  const dir = nodePath.join(base, "my mirror"); // a space, to check quoting
  const home = nodePath.join(base, "home");
  await fs.mkdir(dir);
  await fs.mkdir(home);
  await fs.writeFile(nodePath.join(dir, "root.json"), '{"signed":{}}');
  const tarballs: Record<string, string> = {};
  for (const client of clients) {
    tarballs[`${client}-${hostSuffix()}.tar.gz`] = await clientTarball(dir, client);
  }
  const script = nodePath.join(dir, "local_install.sh");
  await fs.writeFile(
    script,
    renderLocalInstallScript({
      tarballs,
      rootSha256: await fileSha256(nodePath.join(dir, "root.json")),
    }),
  );
  return { base, dir, home, script, remove: () => fs.rm(base, { recursive: true, force: true }) };
}

test("local_install.sh installs ferry, its root.json, the mirror setting and PATH, once", async () => {
  const m = await mirrorWith(["ferry", "tiup"]);
  try {
    const first = runScript(m.script, { HOME: m.home });
    assert.equal(first.status, 0, first.stderr);
    const bin = nodePath.join(m.home, ".ferry", "bin");
    assert.equal(await fs.readFile(nodePath.join(bin, "root.json"), "utf8"), '{"signed":{}}');
    assert.equal((await fs.stat(nodePath.join(bin, "ferry"))).mode & 0o111, 0o111);
    assert.equal(
      await fs.readFile(nodePath.join(m.home, ".ferry", "ferry.toml"), "utf8"),
      `mirror = "${m.dir}"\n`,
    );
    assert.equal(
      await fs.readFile(nodePath.join(m.home, "mirror-set.log"), "utf8"),
      `mirror set ${m.dir} --silent\n`,
    );
    runScript(m.script, { HOME: m.home });
    const profile = await fs.readFile(nodePath.join(m.home, ".profile"), "utf8");
    assert.equal(profile.split(`export PATH=${bin}:$PATH`).length - 1, 1);
  } finally {
    await m.remove();
  }
});

test("local_install.sh honours FERRY_HOME and the shell's own profile", async () => {
  const m = await mirrorWith(["ferry"]);
  try {
    const ferryHome = nodePath.join(m.base, "custom-home");
    await fs.writeFile(nodePath.join(m.home, ".bashrc"), "# mine\n");
    const result = runScript(m.script, { HOME: m.home, FERRY_HOME: ferryHome, SHELL: "/bin/bash" });
    assert.equal(result.status, 0, result.stderr);
    await fs.stat(nodePath.join(ferryHome, "bin", "ferry"));
    const bashrc = await fs.readFile(nodePath.join(m.home, ".bashrc"), "utf8");
    assert.match(bashrc, /^# mine\n/);
    assert.ok(bashrc.includes(`export PATH=${nodePath.join(ferryHome, "bin")}:$PATH`));
  } finally {
    await m.remove();
  }
});

test("local_install.sh falls back to TiUP's tarball when the mirror has no ferry", async () => {
  const m = await mirrorWith(["tiup"]);
  try {
    const result = runScript(m.script, { HOME: m.home });
    assert.equal(result.status, 0, result.stderr);
    await fs.stat(nodePath.join(m.home, ".tiup", "bin", "tiup"));
    assert.match(result.stdout, /Installed tiup/);
  } finally {
    await m.remove();
  }
});

test("local_install.sh refuses a damaged tarball and installs nothing", async () => {
  const m = await mirrorWith(["ferry"]);
  try {
    const tarball = nodePath.join(m.dir, `ferry-${hostSuffix()}.tar.gz`);
    const bytes = await fs.readFile(tarball);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await fs.writeFile(tarball, bytes);
    const result = runScript(m.script, { HOME: m.home });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /damaged/);
    await assert.rejects(fs.stat(nodePath.join(m.home, ".ferry", "bin", "ferry")));
  } finally {
    await m.remove();
  }
});

test("local_install.sh says what to do when the mirror has no client for this platform", async () => {
  const m = await mirrorWith([]);
  try {
    const result = runScript(m.script, { HOME: m.home });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /no ferry or tiup package for .* --os/);
  } finally {
    await m.remove();
  }
});
