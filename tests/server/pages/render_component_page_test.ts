import assert from "node:assert/strict";
import { test } from "node:test";
import { renderComponentPage } from "../../../lib/server/pages/render_component_page.ts";
import { component, hostileComponent } from "./_hostile_overview.ts";

const BASE = "http://10.0.0.5:8080";

test("renderComponentPage() escapes a hostile manifest and keeps its URL a path on the mirror (attack: stored XSS, javascript: link)", () => {
  const page = renderComponentPage(hostileComponent(), { baseUrl: BASE, present: () => true });
  assert.equal(page.match(/<script/gi), null);
  assert.ok(!page.includes("<img src=x"));
  assert.ok(!/href="javascript:/i.test(page));
  assert.match(page, /href="\.\.\/\.\.\/javascript%3Aalert\(1\)\/\/%3Cscript%3E/);
});

test("renderComponentPage() shows versions × platforms with download links, newest first", () => {
  const page = renderComponentPage(component(), { baseUrl: BASE, present: () => true });
  assert.ok(page.indexOf('data-version="v1.1.0"') < page.indexOf('data-version="v1.0.0"'));
  assert.match(page, /<th>linux\/amd64<\/th><th>linux\/arm64<\/th>/);
  assert.match(page, /href="\.\.\/\.\.\/hello-v1\.1\.0-linux-arm64\.tar\.gz" download/);
  assert.match(page, /1\.5 KiB/);
  const old = page.slice(page.indexOf('data-version="v1.0.0"'));
  assert.match(old, /class="mono nowrap yanked">v1\.0\.0/);
  assert.match(old, /<td class="missing">—<\/td>/, "no arm64 build of v1.0.0");
  assert.match(page, /ferry install hello:v1\.1\.0/);
});

test("renderComponentPage() marks a tarball the mirror does not hold instead of linking to it", () => {
  const page = renderComponentPage(component(), {
    baseUrl: BASE,
    present: (path) => path !== "hello-v1.1.0-linux-arm64.tar.gz",
  });
  assert.doesNotMatch(page, /href="[^"]*hello-v1\.1\.0-linux-arm64/);
  assert.match(page, /data-platform="linux\/arm64">not copied</);
});
