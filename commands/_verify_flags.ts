/**
 * The flags `ferry mirror verify` and `ferry image verify` share: `--now` (verify as of a given
 * time) and `--root FILE` (a root.json got out of band), read and checked the same way.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { UsageError } from "../lib/errors.ts";
import { MAX_ROOT_BYTES } from "../lib/format/repo_defaults.ts";
import { parseRfc3339 } from "../lib/format/rfc3339.ts";

/** `--now RFC3339` as a Date; undefined when not given; a UsageError when it does not parse. */
export function parseNowFlag(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  try {
    return parseRfc3339(text);
  } catch {
    throw new UsageError(`Cannot use --now "${text}": expected RFC 3339 like 2026-01-01T00:00:00Z`);
  }
}

/** The bytes of `--root FILE` (at most a root's size cap); undefined when not given. */
export async function readRootFlag(path: string | undefined): Promise<Uint8Array | undefined> {
  if (path === undefined) return undefined;
  const bytes = await readFile(path).catch((error) => {
    throw new UsageError(`Cannot read --root "${path}": ${error.code ?? error.message}`);
  });
  if (bytes.length > MAX_ROOT_BYTES) {
    throw new UsageError(`Cannot use --root "${path}": it is larger than ${MAX_ROOT_BYTES} bytes`);
  }
  return new Uint8Array(bytes);
}
