import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { type AddressScope, addressScope } from "./address_scope.ts";

/** Resolves a host name to its IP addresses (injected in tests; DNS by default). */
export type ResolveHost = (hostname: string) => Promise<string[]>;

/** The system resolver, every address (a name with one private address is not public). */
export const resolveWithDns: ResolveHost = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * Decides whether the proxy may connect to a URL that an upstream handed it (a redirect
 * `Location`, a token realm): its host, resolved, must be public, or lie in the same kind of
 * non-public network as the configured registry itself (a registry on 10.0.0.5 may redirect to
 * 10.0.0.6; a public one may not send the proxy to 127.0.0.1 or 169.254.169.254).
 */
export class TargetGuard {
  readonly #registryHost: string;
  readonly #resolve: ResolveHost;
  #allowed: Promise<Set<AddressScope>> | undefined;

  constructor(registryUrl: string, resolve: ResolveHost) {
    this.#registryHost = new URL(registryUrl).hostname;
    this.#resolve = resolve;
  }

  /** The non-public scopes `url` leads to that the registry is not in; [] when it may be used. */
  async refusedScopes(url: URL): Promise<AddressScope[]> {
    this.#allowed ??= this.#scopes(this.#registryHost).then(
      (scopes) => new Set(scopes),
      () => {
        // Cannot resolve the registry now: allow only public targets, and ask again next time.
        this.#allowed = undefined;
        return new Set<AddressScope>();
      },
    );
    const [target, allowed] = await Promise.all([this.#scopes(url.hostname), this.#allowed]);
    return target.filter((scope) => scope !== "public" && !allowed.has(scope));
  }

  async #scopes(hostname: string): Promise<AddressScope[]> {
    const bare = hostname.replace(/^\[|\]$/g, "");
    const addresses = isIP(bare) ? [bare] : await this.#resolve(bare);
    if (addresses.length === 0) throw new Error(`"${hostname}" has no address`);
    return [...new Set(addresses.map(addressScope))];
  }
}
