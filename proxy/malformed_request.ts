// host name, IPv4 or [IPv6], optional port (RFC 9110 §7.2 / RFC 3986 §3.2.2)
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Why a request cannot be routed at all, or undefined when it can. Bun hands over a relative
 * URL when the Host header is missing (HTTP/1.0) or not a host, and `CONNECT` asks for a
 * forward proxy, which this is not: such requests get a 400, not a crash in `new URL()`.
 */
export function malformedRequest(request: Request): string | undefined {
  if (request.method === "CONNECT") {
    return "CONNECT is not supported: this is a registry, not a forward proxy";
  }
  const host = request.headers.get("host");
  if ((host !== null && !HOST.test(host)) || !URL.canParse(request.url)) {
    return "The request has no usable Host header";
  }
  return undefined;
}
