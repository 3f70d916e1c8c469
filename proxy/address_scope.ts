import { isIPv4, isIPv6 } from "node:net";

/**
 * Where an IP address leads: the public internet, or somewhere only this host or its networks
 * reach. Redirects and token realms that lead anywhere but "public" are an SSRF risk.
 */
export type AddressScope =
  | "public"
  | "loopback"
  | "private"
  | "link-local"
  | "unspecified"
  | "reserved";

type V4Range = [first: number, prefix: number, scope: AddressScope];

// RFC 6890 special-purpose IPv4 ranges (the ones a request could reach something through).
const V4_RANGES: V4Range[] = [
  [v4("0.0.0.0"), 8, "unspecified"],
  [v4("10.0.0.0"), 8, "private"],
  [v4("100.64.0.0"), 10, "private"], // carrier-grade NAT (RFC 6598)
  [v4("127.0.0.0"), 8, "loopback"],
  [v4("169.254.0.0"), 16, "link-local"], // also cloud metadata (169.254.169.254)
  [v4("172.16.0.0"), 12, "private"],
  [v4("192.0.0.0"), 24, "reserved"],
  [v4("192.168.0.0"), 16, "private"],
  [v4("198.18.0.0"), 15, "reserved"],
  [v4("224.0.0.0"), 4, "reserved"], // multicast
  [v4("240.0.0.0"), 4, "reserved"], // future use and broadcast
];

/**
 * The scope of an IPv4 or IPv6 address literal (brackets and a zone id are allowed). An IPv6
 * address that carries an IPv4 one (v4-mapped `::ffff:a.b.c.d`, v4-compatible `::a.b.c.d`,
 * NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) has the scope of that IPv4 address, so
 * `[::ffff:127.0.0.1]` is loopback. Not an address at all: throws a TypeError.
 *
 * ```ts
 * addressScope("169.254.169.254"); // "link-local"
 * addressScope("[::ffff:7f00:1]"); // "loopback"
 * ```
 */
export function addressScope(address: string): AddressScope {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (isIPv4(bare)) return v4Scope(v4(bare));
  if (!isIPv6(bare)) throw new TypeError(`Not an IP address: "${address}"`);
  const g = v6Groups(bare);
  const embedded = (g[6]! << 16 | g[7]!) >>> 0;
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeros(8)) return "unspecified";
  if (zeros(7) && g[7] === 1) return "loopback";
  if (zeros(5) && g[5] === 0xffff) return v4Scope(embedded); // v4-mapped
  if (zeros(6)) return v4Scope(embedded); // v4-compatible (deprecated, still routed by some)
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) {
    return v4Scope(embedded); // NAT64 well-known prefix
  }
  if (g[0] === 0x2002) return v4Scope((g[1]! << 16 | g[2]!) >>> 0); // 6to4
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return "private"; // unique local fc00::/7
  if ((first & 0xffc0) === 0xfe80) return "link-local"; // fe80::/10
  if ((first & 0xffc0) === 0xfec0) return "private"; // site-local fec0::/10 (deprecated)
  if ((first & 0xff00) === 0xff00) return "reserved"; // multicast
  return "public";
}

function v4Scope(value: number): AddressScope {
  for (const [first, prefix, scope] of V4_RANGES) {
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    if (((value & mask) >>> 0) === first) return scope;
  }
  return "public";
}

function v4(text: string): number {
  return text.split(".").reduce((sum, part) => sum * 256 + Number(part), 0);
}

/** The eight 16-bit groups of an IPv6 address that `isIPv6` accepted. */
function v6Groups(text: string): number[] {
  let tail: number[] = [];
  let rest = text;
  if (text.includes(".")) {
    const colon = text.lastIndexOf(":");
    const value = v4(text.slice(colon + 1));
    tail = [value >>> 16, value & 0xffff];
    rest = text.slice(0, colon + 1);
    if (!rest.endsWith("::")) rest = rest.slice(0, -1);
  }
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((h) => parseInt(h, 16)));
  const [head = "", after] = rest.split("::");
  const left = parse(head);
  const right = after === undefined ? [] : parse(after);
  const fill = 8 - tail.length - left.length - right.length;
  return [...left, ...Array(after === undefined ? 0 : fill).fill(0), ...right, ...tail];
}
