/**
 * Canonical JSON as TiUP writes and signs it (gibson042/canonicaljson-go, TIUP-FORMAT.md §2):
 * no insignificant whitespace, object keys sorted by code point, strings raw UTF-8 with only the
 * required escapes (uppercase `\u00XX` for other control characters), integers in plain decimal,
 * other numbers in capital-E exponent form. This is the only function in ferry that produces
 * canonical JSON: every manifest ferry writes or signs goes through it.
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1, a: "x\u001f" }); // '{"a":"x\\u001F","b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return encode(value, "$");
}

/** {@linkcode canonicalJson} as UTF-8 bytes: what is hashed and signed. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}

function encode(value: unknown, where: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return encodeString(value);
    case "number":
      return encodeNumber(value, where);
    case "object": {
      if (Array.isArray(value)) {
        return `[${value.map((v, i) => encode(v, `${where}[${i}]`)).join(",")}]`;
      }
      const entries = Object.entries(value as Record<string, unknown>);
      entries.sort(([a], [b]) => compareCodePoints(a, b));
      const parts = entries.map(([key, v]) => {
        if (v === undefined) throw new TypeError(`Cannot encode ${where}.${key}: it is undefined`);
        return `${encodeString(key)}:${encode(v, `${where}.${key}`)}`;
      });
      return `{${parts.join(",")}}`;
    }
    default:
      throw new TypeError(`Cannot encode ${where} as JSON: it is a ${typeof value}`);
  }
}

function encodeNumber(value: number, where: string): string {
  if (!Number.isFinite(value)) {
    throw new TypeError(`Cannot encode ${where}: ${value} is not finite`);
  }
  if (Number.isInteger(value)) {
    if (Object.is(value, -0)) return "0";
    return Math.abs(value) < 1e21 ? value.toFixed(0) : BigInt(value).toString();
  }
  // canonicaljson-go: minimal significand that keeps a decimal point, capital E, no "+".
  const [mantissa = "", exponent = "0"] = value.toExponential().split("e");
  const withPoint = mantissa.includes(".") ? mantissa : `${mantissa}.0`;
  return `${withPoint}E${Number(exponent)}`;
}

const SHORT_ESCAPES: Record<number, string> = {
  0x08: "\\b",
  0x09: "\\t",
  0x0a: "\\n",
  0x0c: "\\f",
  0x0d: "\\r",
  0x22: '\\"',
  0x5c: "\\\\",
};

function encodeString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const short = SHORT_ESCAPES[code];
    if (short !== undefined) out += short;
    else if (code < 0x20) out += `\\u${code.toString(16).toUpperCase().padStart(4, "0")}`;
    else if (code >= 0xd800 && code <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      const paired = code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
      if (paired) {
        out += text[i]! + text[i + 1]!;
        i++;
      } else {
        out += `\\u${code.toString(16).toUpperCase()}`;
      }
    } else out += text[i];
  }
  return `${out}"`;
}

/**
 * Orders strings by Unicode code point (as Go orders UTF-8 bytes), not by UTF-16 unit. UTF-16
 * order differs from code-point order only where a surrogate (U+D800–DFFF, half of an astral
 * character) meets a unit in U+E000–FFFF, so the first differing units are remapped to make
 * surrogates sort above U+FFFF without allocating (this runs for every key of every manifest).
 */
function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const left = a.charCodeAt(i);
    const right = b.charCodeAt(i);
    if (left !== right) return codePointRank(left) - codePointRank(right);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}
