import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { publishComponent } from "../../../lib/writer/publish_component.ts";
import { parseRfc3339 } from "../../../lib/format/rfc3339.ts";
import { createMirrorServer } from "../../../lib/server/mirror_server.ts";
import { MemoryStorage } from "../../../lib/storage/memory_storage.ts";
import { readBytes } from "../../../lib/storage/read_bytes.ts";
import type { Storage } from "../../../lib/storage/storage.ts";
import { helloPackage, makeMirror, T0, tarball, type TestKeys } from "../../_simulator.ts";

const BROWSER = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
const ORIGIN = "http://mirror.test:8080";
const HOSTILE_DESCRIPTION = `<script>alert("x")</script>`;

/** A signed mirror with hello v1.0.0 and v1.1.0 (two platforms) published by alice. */
async function helloMirror(): Promise<{ storage: Storage; keys: TestKeys }> {
  const { storage, keys } = await makeMirror();
  const publish = (overrides: Parameters<typeof helloPackage>[0]) =>
    publishComponent(storage, helloPackage(overrides), { key: keys.alice, now: T0 });
  await publish({ description: HOSTILE_DESCRIPTION });
  await publish({ version: "v1.1.0" });
  await publish({ version: "v1.1.0", platform: "linux/arm64" });
  return { storage, keys };
}

function server(storage: Storage, now = T0) {
  return createMirrorServer(storage, { now: () => now });
}

async function page(storage: Storage, path: string, now = T0) {
  const response = await server(storage, now).request(`${ORIGIN}${path}`, { headers: BROWSER });
  return { response, text: await response.text() };
}

describe("the mirror's pages over a signed mirror", () => {
  let storage: Storage;
  let keys: TestKeys;
  before(async () => {
    ({ storage, keys } = await helloMirror());
  });

  test("a browser at / gets the verified components, root key IDs and role versions", async () => {
    const { response, text } = await page(storage, "/");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(text, /<a href="_ferry\/components\/hello">hello<\/a>/);
    assert.match(text, /Alice <span class="hint">\(alice\)<\/span>/);
    assert.match(text, /<td class="mono">v1\.1\.0<\/td>/);
    assert.match(text, /<td>linux\/amd64, linux\/arm64<\/td>/);
    assert.ok(text.includes(keys.root.id), "the root key ID in full");
    assert.match(text, /data-role="timestamp"><td>timestamp\.json<\/td><td class="num">5</);
    assert.match(text, new RegExp(`ferry mirror set ${ORIGIN}<`));
  });

  test("a published description cannot inject markup (attack: stored XSS through publish)", async () => {
    const { text } = await page(storage, "/");
    assert.ok(!text.includes(HOSTILE_DESCRIPTION));
    assert.ok(text.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert.equal(text.match(/<script/gi), null);
  });

  test("the page's headers allow no script and nothing from another origin", async () => {
    const { response } = await page(storage, "/");
    const csp = response.headers.get("content-security-policy") ?? "";
    assert.match(csp, /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; /);
    assert.doesNotMatch(csp, /unsafe|https?:|\*/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(response.headers.get("vary"), "Accept");
  });

  test("the component page links every tarball, and the link downloads it", async () => {
    const { response, text } = await page(storage, "/_ferry/components/hello");
    assert.equal(response.status, 200);
    const href = /href="([^"]*hello-v1\.1\.0-linux-arm64\.tar\.gz)"/.exec(text)?.[1];
    assert.equal(href, "../../hello-v1.1.0-linux-arm64.tar.gz");
    const url = new URL(href!, `${ORIGIN}/_ferry/components/hello`);
    const download = await server(storage).request(url.href, { headers: BROWSER });
    assert.equal(download.status, 200);
    assert.deepEqual(
      new Uint8Array(await download.arrayBuffer()),
      await readBytes(storage, "hello-v1.1.0-linux-arm64.tar.gz"),
    );
    assert.match(text, /data-version="v1\.0\.0"/);
    assert.match(text, /<td class="missing">—<\/td>/, "v1.0.0 has no arm64 build");
  });

  test("an unknown component gets a 404 page", async () => {
    const { response, text } = await page(storage, "/_ferry/components/nope%3Cb%3E");
    assert.equal(response.status, 404);
    assert.match(text, /No such component/);
    assert.match(text, /&quot;nope&lt;b&gt;&quot;/);
  });

  test("a new publish shows at once", async () => {
    const { storage: fresh, keys } = await makeMirror();
    await publishComponent(fresh, helloPackage(), { key: keys.alice, now: T0 });
    const app = server(fresh);
    const first = await (await app.request(`${ORIGIN}/`, { headers: BROWSER })).text();
    assert.doesNotMatch(first, /data-component="world"/);
    await publishComponent(
      fresh,
      helloPackage({ component: "world", tarball: tarball("world") }),
      { key: keys.alice, now: T0 },
    );
    const second = await (await app.request(`${ORIGIN}/`, { headers: BROWSER })).text();
    assert.match(second, /data-component="world"/);
  });

  test("the page warns 14 days before the timestamp expires", async () => {
    const expires = /data-role="timestamp">[^\n]*?<td class="mono">([^<]+)</.exec(
      (await page(storage, "/")).text,
    )?.[1];
    const soon = new Date(parseRfc3339(expires!).getTime() - 13 * 86_400_000);
    const { text } = await page(storage, "/", soon);
    assert.match(text, /Expires within 14 days: [a-z, ]*timestamp/);
    const later = new Date(parseRfc3339(expires!).getTime() - 15 * 86_400_000);
    assert.doesNotMatch((await page(storage, "/", later)).text, /Expires within 14 days/);
  });
});

describe("what the mirror's pages refuse to show", () => {
  test("a tampered component manifest gets an error page, not its data (attack: unsigned edit on disk)", async () => {
    const { storage } = await helloMirror();
    const path = "3.hello.json";
    const text = new TextDecoder().decode(await readBytes(storage, path));
    assert.ok(text.includes("linux/arm64"));
    await storage.write(path, text.replace('"entry":"hello"', '"entry":"evil!"'));
    const { response, text: body } = await page(storage, "/");
    assert.equal(response.status, 500);
    assert.match(body, /This mirror does not verify/);
    assert.match(body, /3\.hello\.json/);
    assert.doesNotMatch(body, /data-component=/);
    assert.doesNotMatch(body, /mem:\/\/mirror/, "the server's own location is not shown");
    const component = await page(storage, "/_ferry/components/hello");
    assert.equal(component.response.status, 500);
    assert.doesNotMatch(component.text, /evil/);
  });

  test("a timestamp signed by another key gets an error page (attack: forged timestamp)", async () => {
    const { storage } = await helloMirror();
    const text = new TextDecoder().decode(await readBytes(storage, "timestamp.json"));
    await storage.write(
      "timestamp.json",
      text.replace(/"sig":"[A-Za-z0-9+/]{8}/, '"sig":"AAAAAAAA'),
    );
    const { response, text: body } = await page(storage, "/");
    assert.equal(response.status, 500);
    assert.match(body, /timestamp\.json/);
    assert.doesNotMatch(body, /data-component=/);
  });

  test("a directory that is not a mirror gets a page that says so", async () => {
    const { response, text } = await page(new MemoryStorage("mem://empty"), "/");
    assert.equal(response.status, 500);
    assert.match(text, /Not a TiUP mirror yet/);
  });
});

describe("clients that do not ask for HTML get today's answers byte for byte", () => {
  let storage: Storage;
  before(async () => {
    ({ storage } = await helloMirror());
  });

  const requests: Array<[string, string, Record<string, string>]> = [
    ["GET", "/", {}],
    ["GET", "/", { accept: "*/*", "user-agent": "curl/8.5.0" }],
    ["GET", "/", { "user-agent": "Go-http-client/1.1", "accept-encoding": "gzip" }],
    ["GET", "/", { accept: "application/json" }],
    ["HEAD", "/", BROWSER],
    ["POST", "/", BROWSER],
    ["GET", "/_ferry/components/hello", {}],
    ["GET", "/_ferry/components/hello", { accept: "*/*" }],
    ["GET", "/_ferry/components/", BROWSER],
    ["GET", "/timestamp.json", BROWSER],
    ["GET", "/hello-v1.1.0-linux-amd64.tar.gz", BROWSER],
    ["GET", "/keys/x.json", BROWSER],
    ["GET", "/_ferry/health", BROWSER],
  ];
  for (const [method, path, headers] of requests) {
    test(`${method} ${path} with ${JSON.stringify(headers)} answers as without pages`, async () => {
      const withPages = createMirrorServer(storage);
      const without = createMirrorServer(storage, { pages: false });
      const a = await withPages.request(`${ORIGIN}${path}`, { method, headers });
      const b = await without.request(`${ORIGIN}${path}`, { method, headers });
      assert.equal(a.status, b.status);
      assert.deepEqual([...a.headers], [...b.headers]);
      assert.deepEqual(
        new Uint8Array(await a.arrayBuffer()),
        new Uint8Array(await b.arrayBuffer()),
      );
      assert.notEqual(a.headers.get("content-type"), "text/html; charset=utf-8");
    });
  }
});
