/**
 * What the image operations need of a registry: one authenticated request at a time. The proxy's
 * UpstreamClient (token auth, TLS/CA, redirects, retries) has exactly this shape; commands hand
 * it in, so lib/ never imports the proxy and tests can pass a small in-process registry.
 *
 * @module
 */

/** A request to one registry, below its origin. */
export interface RegistryRequest {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH";
  /** The repository at the registry, for the token scope: "library/nginx". */
  repository: string;
  /** The token scope's actions (default "pull"; pushes ask for "pull,push"). */
  actions?: string;
  /** A body, in memory so that it can be sent again after an auth challenge. */
  body?: Uint8Array;
  /** Path and query below the origin: "/v2/library/nginx/manifests/latest". */
  path: string;
  headers?: Record<string, string>;
}

/** One registry, authenticated. */
export interface RegistryClient {
  request(request: RegistryRequest): Promise<Response>;
}

/** The client for a registry of the table, by name ("docker.io", "upstream.test"). */
export type RegistryClients = (registry: string) => RegistryClient;
