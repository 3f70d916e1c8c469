import assert from "node:assert/strict";
import { test } from "node:test";
import { expiryState, renderMirrorPage } from "../../../lib/server/pages/render_mirror_page.ts";
import { component, HOSTILE, hostileComponent, overview } from "./_hostile_overview.ts";

const NOW = new Date("2026-06-01T00:00:00Z");
const BASE = "http://10.0.0.5:8080";

/** The table row of one role. */
function roleRow(page: string, role: string): string {
  const start = page.indexOf(`data-role="${role}"`);
  return page.slice(start, page.indexOf("</tr>", start));
}

function days(n: number): string {
  return new Date(NOW.getTime() + n * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

test("renderMirrorPage() escapes a hostile component name, description and owner (attack: stored XSS)", () => {
  const page = renderMirrorPage(overview([hostileComponent()]), { baseUrl: BASE, now: NOW });
  assert.ok(!page.includes("<script>alert"), "no script element from the manifest");
  assert.ok(!page.includes("<img src=x"), "no element from the manifest");
  assert.ok(page.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
  // The name in the link is percent-encoded: it cannot leave the attribute or the mirror.
  assert.ok(
    page.includes(
      `href="_ferry/components/${encodeURIComponent(HOSTILE).replaceAll("'", "&#39;")}"`,
    ),
  );
  assert.equal(page.match(/<script/gi), null);
});

test("renderMirrorPage() lists components with owner, latest version, platforms and marks", () => {
  const page = renderMirrorPage(
    overview([component(), component({ name: "secret", hidden: true, yanked: true })]),
    { baseUrl: BASE, now: NOW },
  );
  const hello = page.slice(page.indexOf('data-component="hello"'));
  assert.match(hello, /Says hello/);
  assert.match(hello, /Alice <span class="hint">\(alice\)<\/span>/);
  assert.match(hello, /v1\.1\.0/);
  assert.match(hello, /linux\/amd64, linux\/arm64/);
  const secret = page.slice(page.indexOf('data-component="secret"'));
  assert.match(secret, /badge">hidden</);
  assert.match(secret, /badge bad">yanked</);
  assert.match(page, /ferry mirror set http:\/\/10\.0\.0\.5:8080</);
  assert.match(page, /tiup mirror set http:\/\/10\.0\.0\.5:8080</);
  assert.ok(page.includes("a".repeat(64)), "root key IDs in full");
});

test("renderMirrorPage() warns when a manifest expires within 14 days", () => {
  const page = renderMirrorPage(overview([component()], { timestamp: days(13) }), {
    baseUrl: BASE,
    now: NOW,
  });
  assert.match(page, /id="expiry-warning">Expires within 14 days: timestamp\./);
  assert.match(roleRow(page, "timestamp"), /expires soon/);
  assert.doesNotMatch(roleRow(page, "root"), /expires soon/);
});

test("renderMirrorPage() does not warn about a manifest that expires in 15 days", () => {
  const page = renderMirrorPage(overview([component()], { snapshot: days(15) }), {
    baseUrl: BASE,
    now: NOW,
  });
  assert.doesNotMatch(page, /expiry-warning/);
  assert.doesNotMatch(page, /expires soon/);
});

test("renderMirrorPage() says an expired manifest is expired", () => {
  const page = renderMirrorPage(overview([component()], { root: days(-1), index: days(3) }), {
    baseUrl: BASE,
    now: NOW,
  });
  assert.match(page, /Expired: root\./);
  assert.match(page, /Expires within 14 days: index\./);
});

test("expiryState() draws the lines at now and at 14 days", () => {
  assert.equal(expiryState(days(0), NOW), "expired");
  assert.equal(expiryState(days(-30), NOW), "expired");
  assert.equal(expiryState(days(1), NOW), "soon");
  assert.equal(expiryState(days(13.99), NOW), "soon");
  assert.equal(expiryState(days(14), NOW), "ok");
  assert.equal(expiryState(days(365), NOW), "ok");
});

test("renderMirrorPage() says so when the mirror has no components", () => {
  const page = renderMirrorPage(overview([]), { baseUrl: BASE, now: NOW });
  assert.match(page, /id="components-empty"/);
});
