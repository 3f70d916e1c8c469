/**
 * The sliver of TOML that profile files need: top-level `key = "string"` lines (TiUP writes
 * `tiup.toml` as `mirror = "<addr>"`, TIUP-FORMAT.md §5.1). Other lines are kept verbatim when
 * rewriting, so comments and keys ferry does not know survive.
 *
 * @module
 */

/** Where a top-level key's line is, and its string value. */
interface Found {
  index: number;
  value: string;
}

const KEY_LINE = /^\s*(?:([A-Za-z0-9_-]+)|"([^"\\]*)")\s*=\s*(.*)$/;

/**
 * Finds top-level `key = "value"`; undefined when absent. Throws SyntaxError (with the line
 * number) when the key is there but its value is not a TOML string.
 */
export function findTomlString(text: string, key: string, file: string): Found | undefined {
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? "";
    if (/^\s*\[/.test(line)) return undefined; // a table starts: no more top-level keys
    const match = KEY_LINE.exec(line);
    if (!match || (match[1] ?? match[2]) !== key) continue;
    const value = parseString(match[3] ?? "");
    if (value === undefined) {
      throw new SyntaxError(
        `Cannot parse "${file}" line ${
          index + 1
        }: ${key} must be a quoted string, as in ${key} = "https://…"`,
      );
    }
    return { index, value };
  }
  return undefined;
}

/** Returns `text` with top-level `key` set to `value` (added at the top if absent), or removed. */
export function setTomlString(text: string, key: string, value: string | undefined): string {
  const lines = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/);
  const found = findTomlString(text, key, "");
  if (value === undefined) {
    if (found) lines.splice(found.index, 1);
  } else if (found) {
    lines[found.index] = `${key} = ${quote(value)}`;
  } else {
    lines.unshift(`${key} = ${quote(value)}`);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** A TOML basic string (JSON's escapes are a subset TOML accepts, except \/ which JSON never emits). */
function quote(value: string): string {
  return JSON.stringify(value).replace(/[\u007f]/g, "\\u007f");
}

/** Parses a TOML basic or literal string followed by an optional comment; undefined if not one. */
function parseString(rest: string): string | undefined {
  const text = rest.trim();
  if (text.startsWith("'")) {
    const end = text.indexOf("'", 1);
    if (end === -1 || !isComment(text.slice(end + 1))) return undefined;
    return text.slice(1, end);
  }
  if (!text.startsWith('"') || text.startsWith('"""')) return undefined;
  let out = "";
  for (let i = 1; i < text.length; i++) {
    const char = text[i] as string;
    if (char === '"') return isComment(text.slice(i + 1)) ? out : undefined;
    if (char !== "\\") {
      out += char;
      continue;
    }
    const next = text[++i];
    const simple: Record<string, string> = {
      '"': '"',
      "\\": "\\",
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
    };
    if (next !== undefined && next in simple) out += simple[next];
    else if (next === "u" || next === "U") {
      const length = next === "u" ? 4 : 8;
      const hex = text.slice(i + 1, i + 1 + length);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== length) return undefined;
      out += String.fromCodePoint(parseInt(hex, 16));
      i += length;
    } else return undefined;
  }
  return undefined;
}

function isComment(rest: string): boolean {
  const trimmed = rest.trim();
  return trimmed === "" || trimmed.startsWith("#");
}
