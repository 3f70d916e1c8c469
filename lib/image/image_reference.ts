import { UsageError } from "../errors.ts";
import { SHA256_DIGEST } from "./media_types.ts";

/** An image named the way a bundle stores it: a registry of the table, a repository, a reference. */
export interface ImageReference {
  /** A name from the registry table: "docker.io", "upstream.test". */
  registry: string;
  /** The repository at that registry: "library/nginx". */
  repository: string;
  tag?: string;
  digest?: string;
}

/** What {@linkcode parseImageReference} needs to know about the registry table. */
export interface ImageReferenceContext {
  registries: ReadonlySet<string>;
  /** Registry for names that do not start with one (Docker's rule: docker.io). */
  defaultRegistry?: string | undefined;
  /** Registries whose one-segment names get "library/" (Docker Hub's official images). */
  libraryRegistries?: ReadonlySet<string>;
}

/** OCI distribution spec: a path component of a repository name. */
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
/** OCI distribution spec: a tag. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/**
 * Parses `REGISTRY/REPO[:TAG][@DIGEST]` (or `REPO:TAG` for the default registry) with the
 * proxy's rules: a first component that is in the registry table names the registry; one that
 * looks like a host (a dot, a port, "localhost") but is not in the table is refused; anything
 * else belongs to the default registry, with "library/" added to one-segment names of library
 * registries. A missing tag and digest means "latest", as with docker pull.
 *
 * @example
 * ```ts
 * parseImageReference("nginx:1.25", { registries, defaultRegistry: "docker.io", libraryRegistries })
 * // { registry: "docker.io", repository: "library/nginx", tag: "1.25" }
 * ```
 */
export function parseImageReference(text: string, context: ImageReferenceContext): ImageReference {
  const bad = (why: string) => new UsageError(`Cannot use image "${text}": ${why}`);
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!SHA256_DIGEST.test(digest)) throw bad("the digest must be sha256:<64 lower-case hex>");
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a valid tag`);
  }
  const segments = rest.split("/");
  const first = segments[0] ?? "";
  let registry: string;
  let repositorySegments: string[];
  if (segments.length > 1 && context.registries.has(first)) {
    registry = first;
    repositorySegments = segments.slice(1);
  } else if (
    segments.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")
  ) {
    throw bad(
      `registry "${first}" is not in the registry table; add it with --registry ` +
        `${first}=https://… or in the config file`,
    );
  } else if (context.defaultRegistry !== undefined) {
    registry = context.defaultRegistry;
    repositorySegments = segments;
  } else {
    throw bad("name the registry first (REGISTRY/REPOSITORY:TAG)");
  }
  if (repositorySegments.length === 1 && context.libraryRegistries?.has(registry)) {
    repositorySegments = ["library", ...repositorySegments];
  }
  const repository = repositorySegments.join("/");
  if (!repositorySegments.every((c) => NAME_COMPONENT.test(c)) || repository.length > 255) {
    throw bad(
      "repository components are lower-case letters and digits separated by '.', '_', '__' or '-'",
    );
  }
  return {
    registry,
    repository,
    ...(tag === undefined && digest === undefined ? { tag: "latest" } : {}),
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** "upstream.test/test/hello" — the name a bundle stores and serves a repository under. */
export function storedName(image: Pick<ImageReference, "registry" | "repository">): string {
  return `${image.registry}/${image.repository}`;
}
