/**
 * Which stored repository a client means, by the proxy's rules, so that whatever pulled through
 * `ferry proxy` pulls the same way from a bundle: `?ns=` (containerd's hosts.toml mirrors) →
 * Host alias → a first component that is a registry of the bundle (prefix mode,
 * `HOST:PORT/REGISTRY/REPO:TAG`) → the default registry (Docker's `registry-mirrors`), with
 * "library/" before one-segment names of library registries. Pure.
 *
 * @module
 */

/** What the resolver knows besides the name. */
export interface BundleNameContext {
  /** The registries the bundle holds images of ("docker.io", "upstream.test"). */
  registries: ReadonlySet<string>;
  aliases?: Readonly<Record<string, string>>;
  defaultRegistry?: string | undefined;
  libraryRegistries?: ReadonlySet<string>;
  host?: string | undefined;
  ns?: string | undefined;
}

/** The stored name "REGISTRY/REPOSITORY" the client's name segments stand for, if any. */
export function resolveBundleName(
  segments: readonly string[],
  context: BundleNameContext,
): string | undefined {
  const first = segments[0] ?? "";
  let registry: string | undefined;
  let rest: readonly string[] = segments;
  let mirror = false;
  const ns = context.ns?.toLowerCase();
  const host = normalizeHost(context.host);
  if (ns) {
    registry = ns;
    if (first === ns) rest = segments.slice(1);
  } else if (host !== undefined && context.aliases?.[host] !== undefined) {
    registry = context.aliases[host];
  } else if (segments.length > 1 && context.registries.has(first)) {
    registry = first;
    rest = segments.slice(1);
  } else if (context.defaultRegistry !== undefined) {
    registry = context.defaultRegistry;
    mirror = true;
  }
  if (registry === undefined || rest.length === 0) return undefined;
  const library = rest.length === 1 &&
    (mirror || context.libraryRegistries?.has(registry) === true);
  return `${registry}/${library ? "library/" : ""}${rest.join("/")}`;
}

function normalizeHost(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const lower = host.toLowerCase();
  return lower.startsWith("[") ? lower.replace(/\]:\d+$/, "]") : lower.replace(/:\d+$/, "");
}
