/**
 * An in-process upstream registry for proxy unit tests, reached through an injected fetch (no
 * sockets, no globalThis.fetch). It serves manifests with Accept negotiation, blobs, tags/list
 * with pagination, Bearer or Basic auth, cross-origin blob redirects, and can be told to fail
 * (network down, 503) or to serve wrong bytes, which a real registry cannot easily be made to do.
 * The real-registry checks are in tests/e2e/proxy_test.ts.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

export interface FakeRegistryOptions {
  origin?: string;
  auth?: "none" | "bearer" | "basic";
  /** Blob GETs answer 307 to this origin (served by the same fake). */
  redirectBlobsTo?: string;
}

export interface LoggedRequest {
  method: string;
  url: string;
  authorization: string | null;
  accept: string | null;
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export class FakeRegistry {
  readonly origin: string;
  readonly log: LoggedRequest[] = [];
  readonly tokensIssued: string[] = [];
  down = false;
  failWith: number | undefined;
  readonly manifests = new Map<string, { type: string; bytes: Uint8Array; amd64?: string }>();
  readonly tags = new Map<string, string>();
  readonly blobs = new Map<string, Uint8Array>();
  /** Digest → bytes served instead of the real ones. */
  readonly corrupt = new Map<string, Uint8Array>();
  /** Resolve to let blob bodies finish; set to hold them. */
  blobGate: Promise<void> | undefined;
  /** Set to hold manifest answers (the request is logged first) until it resolves. */
  manifestGate: Promise<void> | undefined;
  /** A hostile upstream: answers instead of the registry whenever it returns a Response. */
  override: ((request: Request) => Response | undefined) | undefined;
  readonly #options: FakeRegistryOptions;

  constructor(options: FakeRegistryOptions = {}) {
    this.origin = options.origin ?? "http://fake.registry";
    this.#options = options;
  }

  addBlob(bytes: Uint8Array | string): string {
    const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    const digest = sha256(data);
    this.blobs.set(digest, data);
    return digest;
  }

  /** Adds an OCI image manifest with one layer under repo:tag; returns its digest and bytes. */
  addImage(repo: string, tag: string, layer: string) {
    const layerDigest = this.addBlob(layer);
    const config = `{"architecture":"amd64","os":"linux","layer":"${layer.length}"}`;
    const configDigest = this.addBlob(config);
    const type = "application/vnd.oci.image.manifest.v1+json";
    // deliberately odd spacing: the proxy must serve these bytes, not a re-serialization
    const text = `{"schemaVersion":2, "mediaType":"${type}",\n "config":{"mediaType":` +
      `"application/vnd.oci.image.config.v1+json","digest":"${configDigest}","size":${config.length}},` +
      `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"${layerDigest}",` +
      `"size":${layer.length}}]}`;
    const bytes = new TextEncoder().encode(text);
    const digest = sha256(bytes);
    this.manifests.set(digest, { type, bytes });
    this.tags.set(`${repo}:${tag}`, digest);
    return { digest, bytes, layerDigest, configDigest };
  }

  count(method: string, pathPart: string): number {
    return this.log.filter((r) => r.method === method && r.url.includes(pathPart)).length;
  }

  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    this.log.push({
      method: request.method,
      url: request.url,
      authorization: request.headers.get("authorization"),
      accept: request.headers.get("accept"),
    });
    if (this.manifestGate && request.url.includes("/manifests/")) await this.manifestGate;
    return this.#handle(request);
  };

  /**
   * Adds a Docker manifest list of an amd64 and an arm64 image under repo:tag. Like
   * Distribution, the registry answers a client that does not accept lists with the amd64 image.
   */
  addList(repo: string, tag: string) {
    const type = "application/vnd.docker.distribution.manifest.v2+json";
    const platforms = ["amd64", "arm64"].map((architecture) => {
      const config = this.addBlob(`{"architecture":"${architecture}","os":"linux"}`);
      const layer = this.addBlob(`layer for ${architecture}`);
      const bytes = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: type,
        config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: config },
        layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: layer }],
      }));
      const digest = sha256(bytes);
      this.manifests.set(digest, { type, bytes });
      return { architecture, digest, size: bytes.length };
    });
    const listType = "application/vnd.docker.distribution.manifest.list.v2+json";
    const bytes = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: listType,
      manifests: platforms.map((p) => ({
        mediaType: type,
        digest: p.digest,
        size: p.size,
        platform: { architecture: p.architecture, os: "linux" },
      })),
    }));
    const digest = sha256(bytes);
    this.manifests.set(digest, { type: listType, bytes, amd64: platforms[0]!.digest });
    this.tags.set(`${repo}:${tag}`, digest);
    return { digest, amd64: platforms[0]!.digest, arm64: platforms[1]!.digest };
  }

  #handle(request: Request): Response {
    const url = new URL(request.url);
    if (this.down) throw new TypeError("fetch failed: connection refused");
    const hostile = this.override?.(request);
    if (hostile) return hostile;
    if (this.failWith) return new Response("unavailable", { status: this.failWith });
    if (url.pathname === "/token") return this.#token(request, url);
    if (this.#options.redirectBlobsTo && url.origin === this.#options.redirectBlobsTo) {
      return this.#blob(request, url.pathname.slice(1));
    }
    if (url.origin !== this.origin) return new Response("no such host", { status: 502 });
    const denied = this.#checkAuth(request, url);
    if (denied) return denied;
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === "/v2/") return Response.json({});
    if (!m) return errorResponse(404, "NAME_UNKNOWN", "not found");
    const [, repo = "", kind, ref = ""] = m;
    if (kind === "tags") {
      const all = [...this.tags.keys()].filter((k) => k.startsWith(`${repo}:`)).map((k) =>
        k.slice(repo.length + 1)
      ).sort();
      const n = Number(url.searchParams.get("n") ?? all.length);
      const last = url.searchParams.get("last");
      const start = last ? all.indexOf(last) + 1 : 0;
      const page = all.slice(start, start + n);
      const headers = new Headers();
      if (start + n < all.length) {
        headers.set("link", `</v2/${repo}/tags/list?last=${page.at(-1)}&n=${n}>; rel="next"`);
      }
      return Response.json({ name: repo, tags: page }, { headers });
    }
    if (kind === "blobs") {
      if (this.#options.redirectBlobsTo && request.method === "GET") {
        return new Response(null, {
          status: 307,
          headers: { location: `${this.#options.redirectBlobsTo}/${ref}` },
        });
      }
      return this.#blob(request, ref);
    }
    let digest = ref.startsWith("sha256:") ? ref : this.tags.get(`${repo}:${ref}`);
    let manifest = digest ? this.manifests.get(digest) : undefined;
    if (!digest || !manifest) return errorResponse(404, "MANIFEST_UNKNOWN", "manifest unknown");
    const accept = request.headers.get("accept") ?? "";
    if (manifest.amd64 && !accept.includes(manifest.type) && !ref.startsWith("sha256:")) {
      digest = manifest.amd64;
      manifest = this.manifests.get(digest)!;
    }
    if (!accept.includes(manifest.type)) {
      return errorResponse(404, "MANIFEST_UNKNOWN", "accept header does not allow this type");
    }
    const headers = {
      "content-type": manifest.type,
      "content-length": String(manifest.bytes.length),
      "docker-content-digest": digest,
    };
    return new Response(request.method === "HEAD" ? null : manifest.bytes.slice(), { headers });
  }

  #blob(request: Request, digest: string): Response {
    const real = this.blobs.get(digest);
    if (!real) return errorResponse(404, "BLOB_UNKNOWN", "blob unknown");
    const bytes = this.corrupt.get(digest) ?? real;
    const headers = { "content-length": String(bytes.length), "docker-content-digest": digest };
    if (request.method === "HEAD") return new Response(null, { headers });
    const gate = this.blobGate;
    const half = Math.floor(bytes.length / 2);
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(bytes.slice(0, half));
        if (gate) await gate;
        controller.enqueue(bytes.slice(half));
        controller.close();
      },
    });
    return new Response(body, { headers });
  }

  #checkAuth(request: Request, url: URL): Response | undefined {
    const mode = this.#options.auth ?? "none";
    const given = request.headers.get("authorization") ?? "";
    if (mode === "basic") {
      if (given === `Basic ${Buffer.from("alice:secret").toString("base64")}`) return undefined;
      return errorResponse(401, "UNAUTHORIZED", "auth", {
        "www-authenticate": 'Basic realm="fake"',
      });
    }
    if (mode === "bearer") {
      if (this.tokensIssued.some((t) => given === `Bearer ${t}`)) return undefined;
      const repo = /^\/v2\/(.+)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
      const scope = repo ? `,scope="repository:${repo}:pull"` : "";
      return errorResponse(401, "UNAUTHORIZED", "auth", {
        "www-authenticate": `Bearer realm="${this.origin}/token",service="fake"${scope}`,
      });
    }
    return undefined;
  }

  #token(request: Request, url: URL): Response {
    const token = `tok-${this.tokensIssued.length + 1}-${url.searchParams.get("scope")}`;
    this.tokensIssued.push(token);
    void request;
    return Response.json({ token, expires_in: 300 });
  }
}

function errorResponse(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ errors: [{ code, message }] }, { status, headers });
}
