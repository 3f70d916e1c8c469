/**
 * The proxy's router, as a pure function: a request path (plus the Host header and `?ns=`) in,
 * a tagged union out. No I/O, no state, so every routing rule is a table-driven test.
 *
 * @module
 */

/** How a request named its registry. */
export type RouteMode = "prefix" | "alias" | "namespace" | "mirror";

import { printable } from "../lib/errors.ts";

/** The registry and repository a request is for. */
export interface RouteTarget {
  /** A name from the registry table: "docker.io", "upstream.test". */
  registry: string;
  /** The repository at the upstream: "library/nginx". */
  repository: string;
  /** The name as the client wrote it (after /v2/), used to rewrite `Link` headers. */
  clientName: string;
  mode: RouteMode;
}

/** What a request path asks for. */
export type Route =
  | { kind: "ping" }
  | { kind: "catalog" }
  | ({ kind: "manifest"; reference: string } & RouteTarget)
  | ({ kind: "blob"; digest: string } & RouteTarget)
  | ({ kind: "tags" } & RouteTarget)
  | ({ kind: "referrers"; digest: string } & RouteTarget)
  | { kind: "upload" }
  | { kind: "not-v2" }
  | { kind: "denied"; message: string }
  | {
    kind: "invalid";
    status: 400 | 404;
    code: "NAME_UNKNOWN" | "NAME_INVALID" | "DIGEST_INVALID" | "MANIFEST_INVALID";
    message: string;
  };

/** What the router knows besides the path. */
export interface RouteContext {
  /** Names in the registry table; anything else is refused (ferry is never an open proxy). */
  registries: ReadonlySet<string>;
  /** Request Host (without or with port) → registry name: host-alias mode. */
  aliases?: Readonly<Record<string, string>>;
  /** The request's Host header. */
  host?: string | undefined;
  /** containerd's `?ns=<registry>` parameter (OCI distribution spec, "Registry Proxying"). */
  ns?: string | undefined;
  /** Registry for paths that do not start with a registry name: Docker Hub mirror mode. */
  defaultRegistry?: string | undefined;
  /** Registries whose one-segment names get "library/" (Docker Hub's official images). */
  libraryRegistries?: ReadonlySet<string>;
}

/** OCI distribution spec §"Pulling manifests": the repository name grammar, per component. */
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
/** OCI distribution spec: a tag. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** The digests the proxy can verify: sha256 and sha512, lower-case hex. */
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const REGISTRY_NAME = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;
const MAX_NAME_LENGTH = 255;

const EXAMPLE = "/v2/<registry>/<repository>/manifests/<tag or digest>, " +
  "e.g. /v2/docker.io/library/nginx/manifests/latest (pull PROXY/docker.io/library/nginx:latest)";

/** True when `reference` is a digest the proxy can verify (sha256 or sha512). */
export function isDigest(reference: string): boolean {
  return DIGEST.test(reference);
}

/**
 * Routes a request path such as `/v2/docker.io/library/nginx/manifests/latest` to
 * `{ kind: "manifest", registry: "docker.io", repository: "library/nginx", reference: "latest" }`.
 *
 * Order: `?ns=` (the client names the registry; a first segment equal to it is dropped) → host
 * alias (the Host header names a registry) → prefix (the first segment is a registry in the
 * table) → the default registry (Docker Hub mirror mode, "library/" added to
 * one-segment names). A first segment that looks like a host but is not in the table is refused
 * (`denied`); a path that does not parse is `invalid` with a message showing the expected form —
 * never a bare DENIED, which is what confuses crproxy users (crproxy #8).
 */
export function parseRoute(path: string, context: RouteContext): Route {
  const pathOnly = path.replace(/[?#].*$/, "");
  if (pathOnly === "/v2" || pathOnly === "/v2/") return { kind: "ping" };
  if (!pathOnly.startsWith("/v2/")) return { kind: "not-v2" };
  let segments: string[];
  try {
    segments = pathOnly.slice(4).split("/").map((s) => decodeURIComponent(s));
  } catch {
    return invalid(400, "NAME_INVALID", `Cannot parse "${shorten(path)}": bad percent-encoding`);
  }
  if (segments.length === 1 && segments[0] === "_catalog") return { kind: "catalog" };

  const n = segments.length;
  const blobsAt = segments.lastIndexOf("blobs");
  if (blobsAt >= 1 && segments[blobsAt + 1] === "uploads" && n - blobsAt <= 3) {
    return { kind: "upload" };
  }
  let op: "manifest" | "blob" | "tags" | "referrers";
  let reference = "";
  if (n >= 3 && segments[n - 2] === "tags" && segments[n - 1] === "list") {
    op = "tags";
  } else if (n >= 3 && segments[n - 2] === "manifests") {
    op = "manifest";
  } else if (n >= 3 && segments[n - 2] === "blobs") {
    op = "blob";
  } else if (n >= 3 && segments[n - 2] === "referrers") {
    op = "referrers";
  } else {
    return invalid(404, "NAME_UNKNOWN", `Cannot route "${shorten(path)}": expected ${EXAMPLE}`);
  }
  if (op !== "tags") reference = segments[n - 1] ?? "";
  const nameSegments = segments.slice(0, n - 2);
  const clientName = nameSegments.join("/");

  const target = resolveTarget(nameSegments, context);
  if ("kind" in target) return target;
  const { registry, repositorySegments, mode } = target;
  let repository = repositorySegments.join("/");
  if (
    repositorySegments.length === 1 &&
    (mode === "mirror" || context.libraryRegistries?.has(registry))
  ) {
    repository = `library/${repository}`;
  }
  if (repository === "") {
    return invalid(
      404,
      "NAME_UNKNOWN",
      `Cannot route "${shorten(path)}": no repository after "${registry}"; expected ${EXAMPLE}`,
    );
  }
  if (
    repository.length > MAX_NAME_LENGTH ||
    !repository.split("/").every((component) => NAME_COMPONENT.test(component))
  ) {
    return invalid(
      400,
      "NAME_INVALID",
      `Cannot use repository name "${shorten(repository)}": ` +
        "components are lower-case letters and digits separated by '.', '_', '__' or '-'",
    );
  }
  const base: RouteTarget = { registry, repository, clientName, mode };
  switch (op) {
    case "tags":
      return { kind: "tags", ...base };
    case "manifest":
      if (!TAG.test(reference) && !isDigest(reference)) {
        return invalid(
          400,
          reference.includes(":") ? "DIGEST_INVALID" : "MANIFEST_INVALID",
          `Cannot use reference "${shorten(reference)}": expected a tag or a sha256/sha512 digest`,
        );
      }
      return { kind: "manifest", ...base, reference };
    case "blob":
    case "referrers":
      if (!isDigest(reference)) {
        return invalid(
          400,
          "DIGEST_INVALID",
          `Cannot use digest "${shorten(reference)}": expected sha256:<64 hex> or sha512:<128 hex>`,
        );
      }
      return op === "blob"
        ? { kind: "blob", ...base, digest: reference }
        : { kind: "referrers", ...base, digest: reference };
  }
}

type Resolved =
  | { registry: string; repositorySegments: string[]; mode: RouteMode }
  | Extract<Route, { kind: "denied" | "invalid" }>;

function resolveTarget(nameSegments: string[], context: RouteContext): Resolved {
  const first = nameSegments[0] ?? "";
  // `?ns=` is the client's own statement of the registry (containerd sends it for every mirror
  // in hosts.toml), so it decides: in `up.test/gcr.io/hello` the "gcr.io" is part of the
  // repository. A first component equal to ns is a prefix-mode path that agrees with it.
  if (context.ns !== undefined && context.ns !== "") {
    const ns = context.ns.toLowerCase();
    if (!context.registries.has(ns)) return notInTable(ns);
    if (first === ns) {
      return { registry: ns, repositorySegments: nameSegments.slice(1), mode: "prefix" };
    }
    return { registry: ns, repositorySegments: nameSegments, mode: "namespace" };
  }
  const host = normalizeHost(context.host);
  const aliased = host === undefined ? undefined : context.aliases?.[host];
  if (aliased !== undefined) {
    if (!context.registries.has(aliased)) return notInTable(aliased);
    return { registry: aliased, repositorySegments: nameSegments, mode: "alias" };
  }
  if (context.registries.has(first)) {
    return { registry: first, repositorySegments: nameSegments.slice(1), mode: "prefix" };
  }
  // crproxy's rule: a first segment with a dot (or a port, or "localhost") names a host.
  if (first.includes(".") || first.includes(":") || first === "localhost") {
    return notInTable(first);
  }
  if (context.defaultRegistry !== undefined) {
    if (!context.registries.has(context.defaultRegistry)) {
      return notInTable(context.defaultRegistry);
    }
    return { registry: context.defaultRegistry, repositorySegments: nameSegments, mode: "mirror" };
  }
  return invalid(
    404,
    "NAME_UNKNOWN",
    `Cannot route "${shorten(nameSegments.join("/"))}": this proxy has no default registry; ` +
      `name the registry first, as in ${EXAMPLE}`,
  );
}

function notInTable(registry: string): Extract<Route, { kind: "denied" }> {
  const shown = REGISTRY_NAME.test(registry) ? registry : shorten(registry);
  return {
    kind: "denied",
    message: `Registry "${shown}" is not in this proxy's registry table; ` +
      "ask the operator to add it to the config file",
  };
}

function normalizeHost(host: string | undefined): string | undefined {
  if (host === undefined || host === "") return undefined;
  const lower = host.toLowerCase();
  if (lower.startsWith("[")) return lower.replace(/\]:\d+$/, "]");
  return lower.replace(/:\d+$/, "");
}

function invalid(
  status: 400 | 404,
  code: "NAME_UNKNOWN" | "NAME_INVALID" | "DIGEST_INVALID" | "MANIFEST_INVALID",
  message: string,
): Extract<Route, { kind: "invalid" }> {
  return { kind: "invalid", status, code, message };
}

function shorten(text: string): string {
  const clean = printable(text).replace(/"/g, "?");
  return clean.length > 120 ? `${clean.slice(0, 117)}...` : clean;
}
