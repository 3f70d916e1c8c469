/**
 * Hand-written tar headers for tests: node-tar refuses to create the malicious archives the
 * extractor must reject, so we write the bytes ourselves (POSIX ustar, see `man 5 tar`).
 *
 * @module
 */
import { gzipSync } from "node:zlib";

/** One entry of a hand-made tarball. */
export interface RawEntry {
  name: string;
  /** ustar typeflag: "0" file, "1" hard link, "2" symlink, "3" char device, "4" block device,
   * "5" directory, "6" FIFO. Default "0". */
  type?: string;
  linkname?: string;
  data?: string | Uint8Array;
  mode?: number;
  /** Size written in the header (default: the data's length). */
  size?: number;
}

/** The uncompressed tar bytes for `entries`, ending with the two zero blocks. */
export function rawTar(entries: RawEntry[]): Uint8Array<ArrayBuffer> {
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const data = typeof entry.data === "string"
      ? new TextEncoder().encode(entry.data)
      : entry.data ?? new Uint8Array();
    blocks.push(header(entry, entry.size ?? data.length));
    if (data.length > 0) {
      const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
      padded.set(data);
      blocks.push(padded);
    }
  }
  blocks.push(new Uint8Array(1024));
  return concat(blocks);
}

/** `rawTar(entries)`, gzip-compressed. */
export function rawTarGz(entries: RawEntry[]): Uint8Array<ArrayBuffer> {
  return new Uint8Array(gzipSync(rawTar(entries)));
}

function header(entry: RawEntry, size: number): Uint8Array {
  const block = new Uint8Array(512);
  const put = (offset: number, length: number, text: string) => {
    const bytes = new TextEncoder().encode(text);
    if (bytes.length > length) throw new RangeError(`"${text}" does not fit in ${length} bytes`);
    block.set(bytes, offset);
  };
  const octal = (offset: number, length: number, value: number) =>
    put(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
  const type = entry.type ?? "0";
  put(0, 100, entry.name);
  octal(100, 8, entry.mode ?? (type === "5" ? 0o755 : 0o644));
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 1_700_000_000);
  put(148, 8, "        ");
  put(156, 1, type);
  put(157, 100, entry.linkname ?? "");
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  put(265, 32, "root");
  put(297, 32, "root");
  let sum = 0;
  for (const byte of block) sum += byte;
  put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
