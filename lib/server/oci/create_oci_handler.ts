import { NotFoundError, VerificationError } from "../../errors.ts";
import { MAX_MANIFEST_BYTES } from "../../image/fetch_manifest.ts";
import { emptyInventory, INVENTORY_PATH } from "../../image/inventory.ts";
import { blobPath } from "../../image/layout_files.ts";
import { manifestRefs } from "../../image/manifest_refs.ts";
import { INDEX_TYPES, OCI_INDEX, SHA256_DIGEST } from "../../image/media_types.ts";
import { readBundleInventory } from "../../image/read_bundle_inventory.ts";
import { readBytes } from "../../storage/read_bytes.ts";
import type { FileStat, StorageReader } from "../../storage/storage.ts";
import { parseRange } from "../parse_range.ts";
import { BundleView } from "./_bundle_view.ts";
import { parseOciPath } from "./parse_oci_path.ts";
import { resolveBundleName } from "./resolve_bundle_name.ts";

/** Options for {@linkcode createOciHandler}. */
export interface OciHandlerOptions {
  /** Registry for names without one (Docker's `registry-mirrors`), as the proxy's. */
  defaultRegistry?: string;
  /** Request Host → registry (host-alias mode), as the proxy's. */
  aliases?: Record<string, string>;
  /** Registries whose one-segment names get "library/". */
  libraryRegistries?: ReadonlySet<string>;
  /** How long a loaded inventory is used before its file is stat'ed again (default 1000 ms). */
  revalidateMs?: number;
  now?: () => Date;
  /** Why the bundle cannot be served (an inventory that does not verify), for the log. */
  onLog?: (line: string) => void;
}

/** The OCI error codes this read-only registry answers with. */
type Code =
  | "NAME_UNKNOWN"
  | "NAME_INVALID"
  | "MANIFEST_UNKNOWN"
  | "BLOB_UNKNOWN"
  | "DIGEST_INVALID"
  | "UNSUPPORTED"
  | "UNKNOWN";

class OciAnswer extends Error {
  constructor(readonly status: number, readonly code: Code, message: string) {
    super(message);
  }
}

const API_HEADER = { "docker-distribution-api-version": "registry/2.0" };

/**
 * The OCI distribution-spec pull API over an image bundle, read-only and in place (no copy):
 * `/v2/` ping, manifests by tag or digest with Accept negotiation (a client that takes no
 * index gets the linux/amd64 manifest of a multi-arch tag, as Distribution does), HEAD, blobs
 * with a single Range, `tags/list` and `_catalog` with `n`/`last` paging, the referrers API
 * (built from the manifests' `subject`, with the `artifactType` filter), and OCI error JSON.
 * Names resolve by the proxy's rules ({@linkcode resolveBundleName}). Only what the signed
 * inventory lists is served, and only once the inventory verifies against the bundle's root;
 * it is reloaded when its file changes.
 */
export function createOciHandler(
  storage: StorageReader,
  options: OciHandlerOptions = {},
): (request: Request) => Promise<Response> {
  const revalidateMs = options.revalidateMs ?? 1000;
  const now = options.now ?? (() => new Date());
  let loaded: { key: string; view: BundleView | Error; checked: number } | undefined;
  const view = async (): Promise<BundleView> => {
    const clock = performance.now();
    if (!loaded || clock - loaded.checked >= revalidateMs) {
      const stat = await storage.stat(INVENTORY_PATH).catch((error) => {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      });
      const key = stat ? statKey(stat) : "none";
      if (loaded?.key !== key) {
        let next: BundleView | Error;
        try {
          const inventory = await readBundleInventory(storage, { now: now() });
          next = new BundleView(inventory ?? emptyInventory(""));
        } catch (error) {
          next = error as Error;
          options.onLog?.(`Not serving images: ${next.message}`);
        }
        loaded = { key, view: next, checked: clock };
      } else {
        loaded.checked = clock;
      }
    }
    if (loaded.view instanceof Error) {
      throw new OciAnswer(
        500,
        "UNKNOWN",
        `The image bundle does not verify (${loaded.view.message}); run "ferry image verify"`,
      );
    }
    return loaded.view;
  };

  return async (request) => {
    try {
      if (request.method !== "GET" && request.method !== "HEAD") {
        throw new OciAnswer(405, "UNSUPPORTED", "This registry is a read-only image bundle");
      }
      const url = new URL(request.url);
      const path = parseOciPath(rawPath(request.url));
      if (path.kind === "ping") return json(request, {}, 200);
      if (path.kind === "invalid") throw new OciAnswer(404, "NAME_UNKNOWN", path.message);
      const bundle = await view();
      if (path.kind === "catalog") {
        return json(request, { repositories: page(bundle.names, url) }, 200);
      }
      const name = resolveBundleName(path.name, {
        registries: bundle.registries,
        ...(options.aliases ? { aliases: options.aliases } : {}),
        defaultRegistry: options.defaultRegistry,
        ...(options.libraryRegistries ? { libraryRegistries: options.libraryRegistries } : {}),
        host: request.headers.get("host") ?? url.host,
        ns: url.searchParams.get("ns") ?? undefined,
      });
      const repository = name === undefined ? undefined : bundle.repository(name);
      if (name === undefined || repository === undefined) {
        throw new OciAnswer(
          404,
          "NAME_UNKNOWN",
          `Repository "${path.name.join("/")}" is not in this bundle`,
        );
      }
      switch (path.kind) {
        case "tags":
          return json(request, {
            name: path.name.join("/"),
            tags: page(Object.keys(repository.tags).sort(), url),
          }, 200);
        case "manifest": {
          const byDigest = SHA256_DIGEST.test(path.reference);
          let digest = byDigest ? path.reference : repository.tags[path.reference];
          if (digest === undefined || !repository.manifests.has(digest)) {
            throw new OciAnswer(
              404,
              "MANIFEST_UNKNOWN",
              `Manifest "${path.reference}" of "${name}" is not in this bundle`,
            );
          }
          if (!byDigest) {
            digest = await negotiate(storage, bundle, repository.manifests, digest, request);
          }
          return await serveManifest(storage, bundle, digest, request);
        }
        case "blob": {
          if (!SHA256_DIGEST.test(path.digest)) {
            throw new OciAnswer(400, "DIGEST_INVALID", `"${path.digest}" is not a sha256 digest`);
          }
          if (!repository.blobs.has(path.digest) && !repository.manifests.has(path.digest)) {
            throw new OciAnswer(404, "BLOB_UNKNOWN", `Blob ${path.digest} is not in "${name}"`);
          }
          return await serveBlob(storage, path.digest, request);
        }
        case "referrers": {
          if (!SHA256_DIGEST.test(path.digest)) {
            throw new OciAnswer(400, "DIGEST_INVALID", `"${path.digest}" is not a sha256 digest`);
          }
          const wanted = url.searchParams.get("artifactType");
          const manifests = bundle.referrers(name, path.digest).map((digest) => {
            const m = bundle.manifest(digest)!;
            return {
              mediaType: m.mediaType,
              digest,
              size: m.size,
              ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
              ...(m.annotations !== undefined ? { annotations: m.annotations } : {}),
            };
          }).filter((d) => wanted === null || d.artifactType === wanted);
          const body = new TextEncoder().encode(
            JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }),
          );
          return new Response(request.method === "HEAD" ? null : body, {
            status: 200,
            headers: {
              ...API_HEADER,
              "content-type": OCI_INDEX,
              "content-length": String(body.length),
              ...(wanted !== null ? { "oci-filters-applied": "artifactType" } : {}),
            },
          });
        }
      }
    } catch (error) {
      return errorResponse(request, error);
    }
  };
}

/**
 * A tag's answer for this client's Accept header: the stored manifest when it is accepted (or
 * anything is), else — for a multi-arch tag and a client that takes no index — the
 * linux/amd64 child, as Distribution answers old clients; else MANIFEST_UNKNOWN.
 */
async function negotiate(
  storage: StorageReader,
  bundle: BundleView,
  present: ReadonlySet<string>,
  digest: string,
  request: Request,
): Promise<string> {
  const accepted = (request.headers.get("accept") ?? "").split(",")
    .map((t) => (t.split(";")[0] ?? "").trim().toLowerCase()).filter((t) => t !== "");
  const type = bundle.manifest(digest)!.mediaType;
  if (
    accepted.length === 0 || accepted.includes(type) ||
    accepted.some((t) => t === "*/*" || t === "application/*")
  ) {
    return digest;
  }
  if (INDEX_TYPES.has(type)) {
    const bytes = await readBytes(storage, blobPath(digest), { maxBytes: MAX_MANIFEST_BYTES });
    const child = manifestRefs(bytes, type).children.find((c) =>
      c.platform?.os === "linux" && c.platform.architecture === "amd64" &&
      accepted.includes(c.mediaType) && present.has(c.digest)
    );
    if (child) return child.digest;
  }
  throw new OciAnswer(
    404,
    "MANIFEST_UNKNOWN",
    `The manifest is a "${type}", which this client does not accept (Accept: ${
      accepted.join(", ")
    })`,
  );
}

async function serveManifest(
  storage: StorageReader,
  bundle: BundleView,
  digest: string,
  request: Request,
): Promise<Response> {
  const entry = bundle.manifest(digest)!;
  const bytes = await readBytes(storage, blobPath(digest), { maxBytes: MAX_MANIFEST_BYTES });
  const headers = {
    ...API_HEADER,
    "content-type": entry.mediaType,
    "content-length": String(bytes.length),
    "docker-content-digest": digest,
    "etag": `"${digest}"`,
  };
  if (bytes.length !== entry.size) {
    throw new VerificationError(`The stored manifest ${digest} is not of its signed size`);
  }
  return new Response(request.method === "HEAD" ? null : bytes as Uint8Array<ArrayBuffer>, {
    status: 200,
    headers,
  });
}

async function serveBlob(storage: StorageReader, digest: string, request: Request) {
  const path = blobPath(digest);
  const stat = await storage.stat(path).catch((error) => {
    if (error instanceof NotFoundError) {
      throw new OciAnswer(404, "BLOB_UNKNOWN", `Blob ${digest} is missing from the bundle`);
    }
    throw error;
  });
  const base: Record<string, string> = {
    ...API_HEADER,
    "content-type": "application/octet-stream",
    "docker-content-digest": digest,
    "etag": `"${digest}"`,
    "accept-ranges": "bytes",
    "cache-control": "public, max-age=31536000, immutable",
  };
  const ifRange = request.headers.get("if-range");
  const wanted = ifRange && ifRange !== `"${digest}"`
    ? { kind: "full" as const }
    : parseRange(request.headers.get("range"), stat.size);
  if (wanted.kind === "unsatisfiable") {
    return new Response(null, {
      status: 416,
      headers: { ...API_HEADER, "content-range": `bytes */${stat.size}` },
    });
  }
  const range = wanted.kind === "partial" ? wanted.range : { start: 0, end: stat.size - 1 };
  const headers = {
    ...base,
    "content-length": String(range.end - range.start + 1),
    ...(wanted.kind === "partial"
      ? { "content-range": `bytes ${range.start}-${range.end}/${stat.size}` }
      : {}),
  };
  const status = wanted.kind === "partial" ? 206 : 200;
  if (request.method === "HEAD") return new Response(null, { status, headers });
  if (stat.size === 0) return new Response(new Uint8Array(0), { status, headers });
  const object = await storage.read(path, wanted.kind === "partial" ? { range } : {});
  return new Response(object.body, { status, headers });
}

/** `n` and `last` paging (OCI distribution spec, "Listing Tags"). */
function page(items: string[], url: URL): string[] {
  const last = url.searchParams.get("last");
  const n = Number(url.searchParams.get("n") ?? NaN);
  const after = last === null ? items : items.filter((item) => item > last);
  return Number.isInteger(n) && n >= 0 ? after.slice(0, n) : after;
}

function json(request: Request, value: unknown, status: number): Response {
  const body = JSON.stringify(value);
  return new Response(request.method === "HEAD" ? null : body, {
    status,
    headers: {
      ...API_HEADER,
      "content-type": "application/json",
      "content-length": String(new TextEncoder().encode(body).length),
    },
  });
}

/** The one error mapper: OCI error JSON for every failure. */
function errorResponse(request: Request, error: unknown): Response {
  const answer = error instanceof OciAnswer
    ? error
    : error instanceof NotFoundError
    ? new OciAnswer(404, "BLOB_UNKNOWN", "The bundle is missing a file its inventory lists")
    : new OciAnswer(500, "UNKNOWN", `Cannot answer: ${(error as Error)?.message ?? error}`);
  return json(request, { errors: [{ code: answer.code, message: answer.message }] }, answer.status);
}

function statKey(stat: FileStat): string {
  return `${stat.size}:${stat.modified.getTime()}:${stat.identity ?? ""}`;
}

function rawPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const path = start === -1 ? "/" : url.slice(start);
  return path.replace(/[?#].*$/, "");
}
