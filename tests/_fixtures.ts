/**
 * Reads the TiUP conformance fixtures (origins and purposes are in their README), kept byte for
 * byte in tests/fixtures/tiup so a fresh clone tests without anything beside it. deno.json
 * excludes that folder from `deno fmt`, which would pretty-print the JSON and destroy the
 * byte-exact canonical form the tests depend on. Set FERRY_TIUP_FIXTURES to use another copy.
 */
import { readFileSync } from "node:fs";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";

/** The fixture directory. */
export const FIXTURES = process.env.FERRY_TIUP_FIXTURES ??
  fileURLToPath(new URL("./fixtures/tiup", import.meta.url));

/** A fixture file's bytes: fixture("official-root/1.root.json"). */
export function fixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(nodePath.join(FIXTURES, path)));
}

/** A fixture parsed as JSON. */
export function fixtureJson(path: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(fixture(path)));
}

/** The README's fixed clock for replaying the official chain (root v6 expired 2026-07-26). */
export const FIXTURE_NOW = new Date("2024-01-01T00:00:00Z");
