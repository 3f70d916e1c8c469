/**
 * The one page shell the mirror's and the proxy's web pages share: inline CSS only (the sites
 * are air-gapped: no font, script or stylesheet from another origin), escaping by hono/html's
 * `html` template, and headers that forbid everything the pages do not use.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

/** A rendered fragment: built with `html\`…\``, so every interpolated string is escaped. */
export type Html = HtmlEscapedString;

const STYLE = `
:root { color-scheme: light dark; --fg: #1d2328; --muted: #5d6770; --line: #d8dde2;
  --bg: #fff; --panel: #f4f6f8; --accent: #0b62c4; --warn-bg: #fff4d6; --warn-fg: #6b4d00;
  --bad-bg: #fde5e5; --bad-fg: #8a1616; --ok: #1c7c3a; }
@media (prefers-color-scheme: dark) { :root { --fg: #e3e7ea; --muted: #9aa4ad; --line: #39424a;
  --bg: #15191c; --panel: #1e2428; --accent: #6cb0ff; --warn-bg: #3b3114; --warn-fg: #f3d27a;
  --bad-bg: #421c1c; --bad-fg: #ffb3b3; --ok: #6fd08f; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header { padding: 14px 24px; border-bottom: 1px solid var(--line); background: var(--panel); }
header a { color: inherit; text-decoration: none; }
header .product { font-weight: 600; }
header .where { color: var(--muted); margin-left: 8px; }
main { max-width: 1200px; margin: 0 auto; padding: 8px 24px 48px; }
h1 { font-size: 24px; margin: 20px 0 8px; }
h2 { font-size: 18px; margin: 28px 0 8px; }
p { margin: 6px 0; }
a { color: var(--accent); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.command { display: block; padding: 10px 12px; margin: 6px 0; border: 1px solid var(--line);
  border-radius: 6px; background: var(--panel); user-select: all; -webkit-user-select: all;
  overflow-x: auto; white-space: pre; }
.hint { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; background: var(--panel); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.keyid { word-break: break-all; }
table.compact { width: auto; min-width: 50%; }
td.nowrap { white-space: nowrap; }
.badge { display: inline-block; padding: 0 6px; margin-left: 4px; border-radius: 4px;
  font-size: 12px; border: 1px solid var(--line); color: var(--muted); }
.badge.bad { background: var(--bad-bg); color: var(--bad-fg); border-color: transparent; }
.badge.warn { background: var(--warn-bg); color: var(--warn-fg); border-color: transparent; }
.notice { padding: 10px 14px; border-radius: 6px; margin: 12px 0; }
.notice.warn { background: var(--warn-bg); color: var(--warn-fg); }
.notice.bad { background: var(--bad-bg); color: var(--bad-fg); }
.yanked { text-decoration: line-through; color: var(--muted); }
.missing { color: var(--muted); }
.ok { color: var(--ok); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.card { flex: 1 1 180px; padding: 10px 14px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--panel); }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 13px; }
.scroll { overflow-x: auto; }
`;

/**
 * The page headers: no script at all, the one inline stylesheet by its hash, nothing from any
 * other origin, no framing, no forms, no referrer; never kept by a cache (the same URL answers
 * plain text to other clients).
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": [
    "default-src 'none'",
    `style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`,
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "vary": "Accept",
});

/** What the shell shows around a page's body. */
export interface PageShell {
  /** The document title (escaped). */
  title: string;
  /** "ferry mirror" or "ferry proxy", shown in the header. */
  product: string;
  /** The site's address, shown beside the product name. */
  where: string;
  /** Link from the header back to the site's first page (relative). */
  home: string;
  body: Html;
}

/** Renders a whole HTML document around `shell.body`. */
export function renderPage(shell: PageShell): string {
  return markup`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${shell.title}</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<header><a href="${shell.home}"><span class="product">${shell.product}</span><span class="where">${shell.where}</span></a></header>
<main>
${shell.body}
</main>
</body>
</html>
`.toString();
}

/** A complete HTML answer: the document with the page headers. */
export function htmlResponse(document: string, status = 200): Response {
  return new Response(document, { status, headers: PAGE_HEADERS });
}

/**
 * hono/html's `html` template with its result narrowed to a string: it returns a promise only
 * when a promise is interpolated, which never happens in these pages (and throws if it does).
 * Every interpolated string is escaped; arrays of fragments are joined.
 */
export function markup(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const result = html(strings, ...values);
  if (result instanceof Promise) throw new TypeError("A page fragment must not be a promise");
  return result;
}

/** "1.5 MiB" and the like, for sizes a person reads. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
