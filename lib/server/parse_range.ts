import type { ByteRange } from "../storage/storage.ts";

/** What a Range header asks of a file of a given size. */
export type RangeRequest =
  | { kind: "full" }
  | { kind: "partial"; range: ByteRange }
  | { kind: "unsatisfiable" };

/**
 * Interprets an HTTP Range header for a file of `size` bytes (RFC 9110 §14). Only a single
 * `bytes=` range is honoured; a header that does not parse, or that asks for several ranges, is
 * ignored (the whole file is sent), which the RFC allows. A syntactically valid range that starts
 * past the end is unsatisfiable (416); one that ends past it is clamped to the end, however many
 * digits its end has.
 */
export function parseRange(header: string | null | undefined, size: number): RangeRequest {
  if (!header) return { kind: "full" };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return { kind: "full" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "full" };
  if (first === "") {
    // Suffix range: the last N bytes.
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  // Digits beyond what a double holds exactly only ever mean "past the end": a start there is
  // unsatisfiable, and an end there is clamped to the last byte (§14.1.2), never refused.
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return { kind: "full" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", range: { start, end } };
}
