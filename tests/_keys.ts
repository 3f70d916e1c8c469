/**
 * RSA-2048 signing keys for tests, handed out from a committed pool of TEST-ONLY keys
 * (tests/fixtures/test_only_keys.json). Generating one RSA-2048 key takes 0.1–2 s, and the unit
 * suites need well over a hundred, so generating them made the suites slow and their set-up hooks
 * hit runner time limits on a busy machine. These keys are public knowledge: never trust them
 * outside a test.
 *
 * Every call hands out keys no earlier call in this process got (Bun runs every test file in one
 * process: a whole unit run takes about 210). Past the end of the pool, fresh keys are generated,
 * slowly but never repeated, so no test can be handed a key another part of it holds.
 *
 * Regenerate the pool with `deno run -A tests/_keys.ts [COUNT]`.
 *
 * @module
 */
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { generateSigningKey } from "../lib/format/generate_key.ts";
import { keyId, publicKeyInfoOf, type SigningKey } from "../lib/format/key_info.ts";
import { parseKeyFile } from "../lib/format/load_key.ts";

const POOL_FILE = fileURLToPath(new URL("./fixtures/test_only_keys.json", import.meta.url));

interface PoolFile {
  warning: string;
  keys: string[];
}

/** The pool's key files, read on first use (each is parsed only when handed out). */
let pool: string[] | undefined;
let next = 0;

function pooledKey(i: number): SigningKey | undefined {
  pool ??= (JSON.parse(readFileSync(POOL_FILE, "utf8")) as PoolFile).keys;
  const text = pool[i];
  if (text === undefined) return undefined;
  const loaded = parseKeyFile(text, `${POOL_FILE}#${i}`);
  if (loaded.kind !== "private") throw new TypeError(`Test key ${i} has no private key`);
  return loaded.key;
}

function freshKey(): SigningKey {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const publicInfo = publicKeyInfoOf(privateKey);
  return { id: keyId(publicInfo), publicInfo, privateKey };
}

/** One test signing key no previous call handed out (a `generateKey` for lib options). */
export function takeTestKey(): Promise<SigningKey> {
  return Promise.resolve(takeTestKeys(1)[0]!);
}

/** `count` distinct test signing keys, none handed out by the previous calls. */
export function takeTestKeys(count: number): SigningKey[] {
  return Array.from({ length: count }, () => pooledKey(next++) ?? freshKey());
}

if (import.meta.main) {
  const count = Number(process.argv[2] ?? 256);
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
