import { UsageError } from "../errors.ts";

/** A parsed `--listen` value. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT`, `:PORT` (all interfaces) or a bare `PORT` (loopback).
 * Throws UsageError with the accepted forms when the value does not parse, naming `flag`.
 */
export function parseListen(
  value: string,
  defaultHost = "127.0.0.1",
  flag = "--listen",
): ListenAddress {
  const bad = () =>
    new UsageError(
      `Cannot use ${flag} "${value}": expected HOST:PORT, [IPv6]:PORT, :PORT or PORT`,
    );
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(value);
  if (v6) {
    host = v6[1] ?? "";
    portText = v6[2] ?? "";
  } else if (/^\d+$/.test(value)) {
    host = defaultHost;
    portText = value;
  } else {
    const colon = value.lastIndexOf(":");
    if (colon === -1) throw bad();
    host = value.slice(0, colon) || "0.0.0.0";
    portText = value.slice(colon + 1);
    if (host.includes(":") || !/^[A-Za-z0-9.-]+$/.test(host)) throw bad();
  }
  if (!/^\d+$/.test(portText)) throw bad();
  const port = Number(portText);
  if (port > 65535) {
    throw new UsageError(`Cannot use ${flag} "${value}": port ${port} is above 65535`);
  }
  return { hostname: host === "localhost" ? "127.0.0.1" : host, port };
}
