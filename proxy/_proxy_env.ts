import type { Context } from "hono";

/** Hono bindings: the client address comes from the runtime adapter. */
export type RegistryProxyEnv = {
  Bindings: { remoteAddress?: string };
  Variables: { routeKind: string };
};

/** A request context of the proxy app. */
export type ProxyContext = Context<RegistryProxyEnv>;

/** Who is asking, for the client gate. */
export function clientOf(c: ProxyContext) {
  return { authorization: c.req.header("authorization"), client: c.env?.remoteAddress ?? "-" };
}

/** The proxy's own origin as the client sees it, for auth challenges. */
export function originOf(c: ProxyContext): string {
  const url = new URL(c.req.url);
  const proto = c.req.header("x-forwarded-proto") ?? url.protocol.slice(0, -1);
  return `${proto}://${c.req.header("host") ?? url.host}`;
}
