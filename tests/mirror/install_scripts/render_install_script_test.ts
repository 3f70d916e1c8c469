import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, before, describe, test } from "node:test";
import { renderInstallScript } from "../../../lib/mirror/install_scripts/render_install_script.ts";
import { clientTarball, fileSha256, hostSuffix } from "./_script_env.ts";

/** `curl URL/install.sh | sh` with a clean environment; resolves with the outcome. */
function curlPipeSh(
  url: string,
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn("sh", ["-c", `curl -fsSL "${url}/install.sh" | sh`], {
    env: { PATH: "/usr/bin:/bin", SHELL: "/bin/sh", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) =>
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    })
  );
}

describe("install.sh", () => {
  let dir: string;
  let server: Server;
  let url: string;
  let files: { tarballs: Record<string, string>; rootSha256: string };

  before(async () => {
    dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-install-sh-"));
    await fs.mkdir(nodePath.join(dir, "mirror"));
    await fs.writeFile(nodePath.join(dir, "mirror", "root.json"), '{"signed":{"v":1}}');
    files = {
      tarballs: {
        [`ferry-${hostSuffix()}.tar.gz`]: await clientTarball(
          nodePath.join(dir, "mirror"),
          "ferry",
        ),
      },
      rootSha256: await fileSha256(nodePath.join(dir, "mirror", "root.json")),
    };
    server = createServer((request, response) => {
      const name = (request.url ?? "/").split("?")[0]!.slice(1);
      fs.readFile(nodePath.join(dir, "mirror", name)).then(
        (body) => response.end(body),
        () => {
          response.statusCode = 404;
          response.end();
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function publishScript(options: { publicUrl?: string } = {}) {
    await fs.writeFile(
      nodePath.join(dir, "mirror", "install.sh"),
      renderInstallScript({ ...files, ...options }),
    );
  }

  async function freshHome(name: string): Promise<string> {
    const home = nodePath.join(dir, name);
    await fs.mkdir(home);
    return home;
  }

  test("install.sh with FERRY_MIRROR installs ferry from the served mirror", async () => {
    await publishScript();
    const home = await freshHome("home-env");
    const result = await curlPipeSh(url, { HOME: home, FERRY_MIRROR: `${url}/` });
    assert.equal(result.status, 0, result.stderr);
    const bin = nodePath.join(home, ".ferry", "bin");
    await fs.stat(nodePath.join(bin, "ferry"));
    assert.equal(await fs.readFile(nodePath.join(bin, "root.json"), "utf8"), '{"signed":{"v":1}}');
    assert.equal(
      await fs.readFile(nodePath.join(home, ".ferry", "ferry.toml"), "utf8"),
      `mirror = "${url}"\n`,
    );
    assert.match(await fs.readFile(nodePath.join(home, ".profile"), "utf8"), /export PATH=/);
  });

  test("install.sh uses the URL given at clone time (--public-url)", async () => {
    await publishScript({ publicUrl: url });
    const home = await freshHome("home-public");
    const result = await curlPipeSh(url, { HOME: home });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      await fs.readFile(nodePath.join(home, "mirror-set.log"), "utf8"),
      `mirror set ${url} --silent\n`,
    );
  });

  test("install.sh without any mirror URL says how to run it", async () => {
    await publishScript();
    const home = await freshHome("home-none");
    const result = await curlPipeSh(url, { HOME: home });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /FERRY_MIRROR=http:\/\/HOST:PORT sh/);
  });

  test("install.sh refuses a root.json swapped on the server", async () => {
    await publishScript();
    const original = await fs.readFile(nodePath.join(dir, "mirror", "root.json"));
    await fs.writeFile(nodePath.join(dir, "mirror", "root.json"), '{"signed":{"evil":1}}');
    try {
      const home = await freshHome("home-swapped");
      const result = await curlPipeSh(url, { HOME: home, FERRY_MIRROR: url });
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /root\.json is damaged/);
      await assert.rejects(fs.stat(nodePath.join(home, ".ferry", "bin", "root.json")));
    } finally {
      await fs.writeFile(nodePath.join(dir, "mirror", "root.json"), original);
    }
  });
});
