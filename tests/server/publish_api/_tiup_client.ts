/**
 * A test client that speaks tiup-server's write API exactly as TiUP's client does
 * (pkg/repository/mirror.go httpMirror.Publish / Rotate, pkg/utils/http.go PostFile): a UUID
 * session, the tarball as multipart field "file" with Go's multipart.Writer framing, the manifest
 * as `text/json` in Go's struct field order (not canonical JSON), the query flags in
 * url.Values.Encode order, and the status code as the only signal read back.
 *
 * @module
 */
import { randomBytes, randomUUID } from "node:crypto";
import { canonicalBytes } from "../../../lib/format/canonical_json.ts";
import type { SigningKey } from "../../../lib/format/key_info.ts";
import type { ComponentManifest, RootManifest } from "../../../lib/format/manifest_types.ts";
import { signBytes } from "../../../lib/format/sign_manifest.ts";

/** How the test reaches the server: `app.request`-style or a real fetch to a URL. */
export type Send = (request: Request) => Promise<Response>;

/** What a TiUP client call got back. */
export interface TiupAnswer {
  status: number;
  contentType: string | null;
  // deno-lint-ignore no-explicit-any
  json: any;
}

async function answerOf(response: Response): Promise<TiupAnswer> {
  const text = await response.text();
  let json: unknown = undefined;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, contentType: response.headers.get("content-type"), json };
}

/** A session ID as TiUP makes one (uuid.New().String()). */
export function newSid(): string {
  return randomUUID();
}

/** utils.PostFile: multipart.Writer.CreateFormFile("file", filename), then http.Post. */
export async function tiupUploadTarball(
  send: Send,
  base: string,
  sid: string,
  filename: string,
  bytes: Uint8Array,
): Promise<TiupAnswer> {
  // Go's multipart.Writer: a 30-byte random boundary in hex, CRLF framing.
  const boundary = randomBytes(30).toString("hex");
  const head =
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
    `Content-Type: application/octet-stream\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const body = new Uint8Array([
    ...new TextEncoder().encode(head),
    ...bytes,
    ...new TextEncoder().encode(tail),
  ]);
  return await answerOf(
    await send(
      new Request(`${base}/api/v1/tarball/${sid}`, {
        method: "POST",
        headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
        body,
      }),
    ),
  );
}

/** Go's json.Marshal of v1manifest.Component: struct field order, not sorted. */
export function goComponentJson(
  signed: ComponentManifest,
  signatures: Array<{ keyid: string; sig: string }>,
): string {
  const platforms: Record<string, Record<string, unknown>> = {};
  for (const [platform, versions] of Object.entries(signed.platforms)) {
    platforms[platform] = {};
    for (const [version, item] of Object.entries(versions)) {
      platforms[platform]![version] = {
        yanked: item.yanked,
        entry: item.entry,
        released: item.released,
        url: item.url,
        hashes: item.hashes,
        length: item.length,
        dependencies: item.dependencies,
      };
    }
  }
  return JSON.stringify({
    signatures: signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
    signed: {
      _type: signed._type,
      spec_version: signed.spec_version,
      expires: signed.expires,
      version: signed.version,
      id: signed.id,
      description: signed.description,
      nightly: signed.nightly,
      platforms,
    },
  });
}

/** TiUP's sign(): signatures over the canonical JSON of `signed`. */
export function tiupSign(signed: unknown, keys: SigningKey[]) {
  const bytes = canonicalBytes(signed);
  return keys.map((key) => signBytes(key, bytes));
}

/** httpMirror.Publish's second request: the manifest to /api/v1/component/{sid}/{id}. */
export async function tiupPostComponent(
  send: Send,
  base: string,
  sid: string,
  id: string,
  body: string,
  flags: { yanked?: boolean; standalone?: boolean; hidden?: boolean } = {},
): Promise<TiupAnswer> {
  // url.Values.Encode sorts by key.
  const query = Object.entries(flags).filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join("&");
  return await answerOf(
    await send(
      new Request(`${base}/api/v1/component/${sid}/${id}${query ? `?${query}` : ""}`, {
        method: "POST",
        headers: { "content-type": "text/json" },
        body,
      }),
    ),
  );
}

/** httpMirror.Rotate: the new root to /api/v1/rotate. */
export async function tiupRotate(
  send: Send,
  base: string,
  signed: RootManifest,
  signatures: Array<{ keyid: string; sig: string }>,
): Promise<TiupAnswer> {
  return await answerOf(
    await send(
      new Request(`${base}/api/v1/rotate`, {
        method: "POST",
        headers: { "content-type": "text/json" },
        body: JSON.stringify({ signatures, signed }),
      }),
    ),
  );
}
