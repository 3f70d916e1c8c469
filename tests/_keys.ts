/**
 * RSA-2048 signing keys for tests, handed out from a committed pool of TEST-ONLY keys
 * (tests/fixtures/test_only_keys.json). Generating one RSA-2048 key takes 0.1–2 s, and the unit
 * suites need well over a hundred, so generating them made the suites slow and their set-up hooks
 * hit runner time limits on a busy machine. These keys are public knowledge: never trust them
 * outside a test.
 *
 * Every call hands out keys no earlier call in this process got, round the pool: a test file that
 * holds at most {@linkcode TEST_KEY_POOL_SIZE} keys at once never sees one twice. Tests that need
 * more than that generate their own.
 *
 * Regenerate the pool with `deno run -A tests/_keys.ts [COUNT]`.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { generateSigningKey } from "../lib/repo/generate_key.ts";
import type { SigningKey } from "../lib/repo/key_info.ts";
import { parseKeyFile } from "../lib/repo/load_key.ts";

const POOL_FILE = fileURLToPath(new URL("./fixtures/test_only_keys.json", import.meta.url));

/** A pooled key and its private key file exactly as TiUP (and generateSigningKey) write it. */
export interface TestKey {
  key: SigningKey;
  privateFileText: string;
}

interface PoolFile {
  warning: string;
  keys: string[];
}

let pool: TestKey[] | undefined;
let next = 0;

function loadPool(): TestKey[] {
  if (pool) return pool;
  const file = JSON.parse(readFileSync(POOL_FILE, "utf8")) as PoolFile;
  pool = file.keys.map((text, i) => {
    const loaded = parseKeyFile(text, `${POOL_FILE}#${i}`);
    if (loaded.kind !== "private") throw new TypeError(`Test key ${i} has no private key`);
    return { key: loaded.key, privateFileText: text };
  });
  return pool;
}

/** How many distinct keys the pool holds. */
export const TEST_KEY_POOL_SIZE: number = loadPool().length;

/** `count` distinct test keys with their key file text, none handed out by the previous calls. */
export function takeTestKeyFiles(count: number): TestKey[] {
  const keys = loadPool();
  if (count > keys.length) {
    throw new RangeError(`Cannot hand out ${count} test keys: the pool holds ${keys.length}`);
  }
  return Array.from({ length: count }, () => keys[next++ % keys.length]!);
}

/** `count` distinct test signing keys, none handed out by the previous calls. */
export function takeTestKeys(count: number): SigningKey[] {
  return takeTestKeyFiles(count).map((k) => k.key);
}

if (import.meta.main) {
  const count = Number(process.argv[2] ?? 48);
  const generated = await Promise.all(
    Array.from({ length: count }, () => generateSigningKey()),
  );
  const file: PoolFile = {
    warning: "TEST ONLY: these private keys are public. Never sign or trust anything with them " +
      "outside ferry's tests.",
    keys: generated.map((g) => g.privateFileText),
  };
  writeFileSync(POOL_FILE, `${JSON.stringify(file, null, 2)}\n`);
  process.stdout.write(`wrote ${count} test keys to ${POOL_FILE}\n`);
}
