/**
 * The web pages in a real headless Chromium (Debian's chromium driven by playwright-core):
 * `ferry mirror serve` of the demo mirror and `ferry proxy` in front of the rig's CNCF
 * Distribution. A person's path through them — the component list, a component's page, a click
 * on a download link, the proxy's page after a pull — with a screenshot of each kept under
 * artifacts/pages/ (or $FERRY_TEST_ARTIFACTS), and every request the browser made recorded:
 * none may leave the two servers' origins. The plain answers for curl and skopeo are checked
 * against the same servers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, describe, it } from "node:test";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { makeTempDir, REPO_ROOT, type RunningFerry, startFerry } from "./_cli.ts";
import { run, type RunningRig, startRig } from "./_registry_rig.ts";

const T = { timeout: 240_000 };
const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = process.env.FERRY_TEST_ARTIFACTS ??
  nodePath.join(REPO_ROOT, "artifacts", "pages");

describe("the web pages in headless Chromium", () => {
  let temp: { dir: string; remove(): Promise<void> } | undefined;
  let mirror: RunningFerry | undefined;
  let proxy: RunningFerry | undefined;
  let rig: RunningRig | undefined;
  let browser: BrowserContext | undefined;
  let page: Page;
  let mirrorUrl = "";
  let proxyUrl = "";
  let demoDir = "";
  /** Every request the browser made, and every console message (CSP violations show there). */
  const requests: string[] = [];
  const consoleErrors: string[] = [];

  // Set up by the first test that needs it rather than in before(): Bun gives hooks 5 s, less
  // than starting the rig and Chromium can take. Chromium is launched once for the suite.
  let setup: Promise<void> | undefined;
  const ready = () => (setup ??= start());
  async function start(): Promise<void> {
    temp = await makeTempDir("ferry-e2e-pages");
    const home = nodePath.join(temp.dir, "home");
    mirror = await startFerry(["mirror", "serve", "--listen", "127.0.0.1:0"], {
      readyPattern: /Serving .* at (https?:\/\/\S+)/,
      env: { FERRY_HOME: home, TIUP_HOME: undefined },
    });
    mirrorUrl = mirror.ready![1]!;
    demoDir = nodePath.join(home, "demo-mirror");
    const basePort = 26000 + 10 * Math.floor(Math.random() * 300);
    rig = await startRig(nodePath.join(temp.dir, "rig"), basePort);
    proxy = await startFerry([
      "proxy",
      "--listen",
      "127.0.0.1:0",
      "--cache-dir",
      nodePath.join(temp.dir, "cache"),
      "--registry",
      `upstream.test=http://127.0.0.1:${basePort}`,
      // Nothing listens there (the rig leaves basePort+9 unused): every pull through it fails.
      "--registry",
      `down.test=http://127.0.0.1:${basePort + 9}`,
    ], { readyPattern: /Registry proxy at (http:\/\/\S+),/, readyTimeoutMs: 60_000 });
    proxyUrl = proxy.ready![1]!;
    const userDataDir = nodePath.join(temp.dir, "chromium-profile");
    await fs.mkdir(userDataDir);
    // launchPersistentContext is how playwright takes a user data dir (a fresh one per run).
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      downloadsPath: nodePath.join(temp.dir, "downloads"),
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
    });
    browser.on("request", (request) => void requests.push(request.url()));
    page = browser.pages()[0] ?? await browser.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    await fs.mkdir(ARTIFACTS, { recursive: true });
  }

  after(async () => {
    await setup?.catch(() => {});
    await browser?.close().catch(() => {});
    await proxy?.stop();
    await mirror?.stop();
    await rig?.stop();
    await temp?.remove();
  });

  async function screenshot(name: string): Promise<void> {
    const path = nodePath.join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    process.stdout.write(`screenshot: ${path}\n`);
  }

  it("the mirror's first page lists the components and the mirror's identity", T, async () => {
    await ready();
    const response = await page.goto(`${mirrorUrl}/`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.title(), `TiUP mirror at ${mirrorUrl}`);
    const row = page.locator('#components tr[data-component="hello"]');
    assert.equal(await row.count(), 1);
    const cells = await row.locator("td").allInnerTexts();
    assert.deepEqual(cells, [
      "hello",
      "Says hello (ferry demo component)",
      "ferry demo (demo)",
      "v1.1.0",
      "darwin/amd64, darwin/arm64, linux/amd64, linux/arm64",
    ]);
    const root = JSON.parse(await fs.readFile(nodePath.join(demoDir, "root.json"), "utf8"));
    assert.deepEqual(
      await page.locator("#root-keys li").allInnerTexts(),
      Object.keys(root.signed.roles.root.keys).sort(),
    );
    assert.equal(
      await page.locator('#roles tr[data-role="root"] td').nth(1).innerText(),
      String(root.signed.version),
    );
    assert.equal(await page.locator("#set-ferry").innerText(), `ferry mirror set ${mirrorUrl}`);
    assert.equal(await page.locator("#set-tiup").innerText(), `tiup mirror set ${mirrorUrl}`);
    assert.equal(await page.locator("#expiry-warning").count(), 0, "a fresh demo mirror");
    // The inline stylesheet applied (its CSP hash matched): the header has the panel colour.
    const background = await page.locator("header").evaluate(
      "(element) => getComputedStyle(element).backgroundColor",
    );
    assert.notEqual(background, "rgba(0, 0, 0, 0)");
    await screenshot("mirror-components");
  });

  it(
    "a click on a component opens its page, and a download link returns the tarball",
    T,
    async () => {
      await ready();
      await page.goto(`${mirrorUrl}/`);
      await page.locator('#components a:text-is("hello")').click();
      await page.waitForURL(`${mirrorUrl}/_ferry/components/hello`);
      assert.equal(await page.locator("#component-name").innerText(), "hello");
      assert.deepEqual(
        await page.locator("#versions tbody tr").evaluateAll((rows) =>
          rows.map((r) => r.getAttribute("data-version"))
        ),
        ["v1.1.0", "v1.0.0"],
      );
      assert.deepEqual(await page.locator("#versions thead th").allInnerTexts(), [
        "Version",
        "Released",
        "darwin/amd64",
        "darwin/arm64",
        "linux/amd64",
        "linux/arm64",
      ]);
      assert.equal(
        await page.locator("#install-command").innerText(),
        "ferry install hello:v1.1.0",
      );
      await screenshot("mirror-component-hello");

      const link = page.locator('tr[data-version="v1.1.0"] td[data-platform="linux/amd64"] a');
      const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
      assert.equal(download.url(), `${mirrorUrl}/hello-v1.1.0-linux-amd64.tar.gz`);
      assert.equal(download.suggestedFilename(), "hello-v1.1.0-linux-amd64.tar.gz");
      const saved = await download.path();
      assert.deepEqual(
        sha256(await fs.readFile(saved)),
        sha256(await fs.readFile(nodePath.join(demoDir, "hello-v1.1.0-linux-amd64.tar.gz"))),
      );
      await page.locator('a:text("All components")').click();
      await page.waitForURL(`${mirrorUrl}/`);
    },
  );

  it(
    "the proxy's page shows its registries, cache, recent pulls and upstream errors",
    T,
    async () => {
      await ready();
      const proxyHost = proxyUrl.replace("http://", "");
      const out = nodePath.join(temp!.dir, "pulled");
      // A real registry client pulls through the proxy: the page must show it.
      await run("skopeo", [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${proxyHost}/upstream.test/test/hello:v1`,
        `dir:${out}`,
      ], 120_000);
      const failed = await run("skopeo", [
        "inspect",
        "--tls-verify=false",
        "--retry-times=0",
        `docker://${proxyHost}/down.test/team/app:v1`,
      ], 120_000).then(() => false, () => true);
      assert.ok(failed, "nothing answers for down.test");

      const response = await page.goto(`${proxyUrl}/`);
      assert.equal(response?.status(), 200);
      assert.equal(await page.title(), `Registry proxy at ${proxyUrl}`);
      const upstream = await page.locator('#registries tr[data-registry="upstream.test"] td')
        .allInnerTexts();
      assert.equal(upstream[0], "upstream.test");
      assert.equal(upstream[1], `http://127.0.0.1:${rig!.basePort}`);
      assert.ok(Number(upstream[3]) >= 1, "upstream requests counted");
      assert.equal(await page.locator('#registries tr[data-registry="docker.io"]').count(), 1);
      const pulls = await page.locator("#pulls tbody tr td:nth-child(2)").allInnerTexts();
      assert.ok(pulls.includes("upstream.test/test/hello:v1"), `pulls: ${pulls.join(", ")}`);
      const errors = await page.locator("#upstream-errors tbody tr td:nth-child(2)")
        .allInnerTexts();
      assert.ok(errors.includes("down.test"), `upstream errors: ${errors.join(", ")}`);
      assert.notEqual(await page.locator("#cache-size .value").innerText(), "0 B");
      assert.match(await page.locator("#hit-ratio .value").innerText(), /^[0-9.]+ %$/);
      assert.equal(
        await page.locator("#pull-command").innerText(),
        `docker pull ${proxyHost}/docker.io/library/alpine:latest`,
      );
      await screenshot("proxy");
    },
  );

  it("clients that do not ask for HTML get the plain answers (curl, skopeo)", T, async () => {
    await ready();
    // The demo mirror carries install.sh only where a ferry binary was there to put in it.
    const installer = await fs.stat(nodePath.join(demoDir, "install.sh")).then(
      () => true,
      () => false,
    );
    assert.equal(
      await curl([`${mirrorUrl}/`]),
      [
        "This is a TiUP-compatible mirror served by ferry.",
        "",
        `Use it:   ferry mirror set ${mirrorUrl}     (or: tiup mirror set ${mirrorUrl})`,
        ...(installer
          ? [`Install:  curl -fsSL ${mirrorUrl}/install.sh | FERRY_MIRROR=${mirrorUrl} sh`]
          : []),
        "",
      ].join("\n"),
    );
    // TiUP's Go client sends no Accept at all.
    assert.match(
      await curl(["-H", "Accept:", "-A", "Go-http-client/1.1", `${mirrorUrl}/`]),
      /^This is a TiUP-compatible mirror/,
    );
    assert.equal(
      await curl(["-H", "Accept: application/json", `${proxyUrl}/`]),
      '{"errors":[{"code":"NAME_UNKNOWN","message":"Not found"}]}',
    );
    assert.equal(
      await curl([`${mirrorUrl}/_ferry/components/hello`]),
      "Not found\n",
    );
    const proxyHost = proxyUrl.replace("http://", "");
    const inspect = await run("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${proxyHost}/upstream.test/test/hello:v1`,
    ], 120_000);
    assert.match(inspect.stdout, /"schemaVersion"\s*:\s*2/);
  });

  it("no request left the servers' origins, and no page broke its own CSP", T, async () => {
    await ready();
    const origins = new Set([new URL(mirrorUrl).origin, new URL(proxyUrl).origin]);
    assert.ok(requests.length >= 5, `requests seen: ${requests.join(", ")}`);
    const elsewhere = requests.filter((url) => !origins.has(new URL(url).origin));
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(consoleErrors.filter((m) => /Content Security Policy|Refused/i.test(m)), []);
  });
});

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** curl's body (stdout) for a request; curl's own default Accept is `*\/*`. */
function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-sS", "--max-time", "30", ...args], (error, stdout, stderr) => {
      if (error) reject(new Error(`curl ${args.join(" ")} failed: ${stderr}`));
      else resolve(stdout);
    });
  });
}
