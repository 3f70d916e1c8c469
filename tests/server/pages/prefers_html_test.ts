import assert from "node:assert/strict";
import { test } from "node:test";
import { prefersHtml } from "../../../lib/server/pages/prefers_html.ts";

const CASES: Array<[string | null, boolean, string]> = [
  ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true, "Chromium"],
  ["text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8", true, "Firefox"],
  ["application/xhtml+xml", true, "XHTML only"],
  ["TEXT/HTML", true, "case-insensitive"],
  [null, false, "no Accept (TiUP's Go client)"],
  ["", false, "empty"],
  ["*/*", false, "curl"],
  ["text/*", false, "a wildcard is not a preference"],
  ["application/json", false, "JSON"],
  ["application/json, text/html;q=0.5", false, "HTML second"],
  ["text/html;q=0", false, "HTML refused"],
  ["text/html;q=0.5, */*;q=0.5", true, "a tie goes to HTML"],
  [
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    false,
    "a registry client",
  ],
  ["text/html;q=abc", false, "an unreadable quality"],
];

for (const [accept, expected, what] of CASES) {
  test(`prefersHtml() is ${expected} for ${what}`, () => {
    assert.equal(prefersHtml(accept), expected);
  });
}
