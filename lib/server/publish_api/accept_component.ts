import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { UsageError } from "../../errors.ts";
import { canonicalBytes } from "../../format/canonical_json.ts";
import { checkName } from "../../format/check_names.ts";
import { decodeManifest } from "../../format/decode_manifest.ts";
import { MAX_MANIFEST_BYTES } from "../../format/repo_defaults.ts";
import { extendExpiry } from "../../format/extend_expiry.ts";
import { loadComponentManifest } from "../../trust/load_component_manifest.ts";
import type {
  ComponentManifest,
  IndexManifest,
  Owner,
  VersionItem,
} from "../../format/manifest_types.ts";
import { normalizeManifest } from "../../format/normalize_manifest.ts";
import { DEFAULT_EXPIRY_DAYS, TOP_LEVEL_ROLES } from "../../format/repo_defaults.ts";
import type { RepositoryChange, TarballUpload } from "../../writer/repository_change.ts";
import type { RepositoryState } from "../../trust/load_verified_state.ts";
import { parseRfc3339 } from "../../format/rfc3339.ts";
import {
  updateRepository,
  type UpdateRepositoryOptions,
  type UpdateResult,
} from "../../writer/update_repository.ts";
import { componentUrl, urlToPath } from "../../format/versioned_name.ts";
import { verifySignatures } from "../../format/verify_signatures.ts";
import { PublishRefusal } from "./_refusal.ts";
import { COLLECT_EVERY_BYTES, type Upload } from "./upload_sessions.ts";
import { collectingGarbageEvery } from "../../runtime.ts";

/** The index flags a publish may set (`?yanked=&standalone=&hidden=`); absent ones are kept. */
export interface IndexFlags {
  yanked?: boolean;
  standalone?: boolean;
  hidden?: boolean;
}

/** One POST /api/v1/component/{sid}/{name}. */
export interface ComponentSubmission {
  /** The component name from the URL. */
  name: string;
  /** The request body: the owner-signed component manifest. */
  body: Uint8Array;
  /** The session's tarball, when the session is live. */
  upload?: Upload;
  flags: IndexFlags;
}

/**
 * Commits a component manifest its owner signed elsewhere (tiup-server's SignComponent), in one
 * writer transaction (lock, crash recovery, ordered writes, journal): the manifest must decode,
 * carry the URL's name, not be expired, have exactly the next version after the snapshot's
 * (409 otherwise: another publisher won the race, and the client re-plans), and be signed by a
 * threshold of its owner's keys — the index owner for an existing component, else the owner that
 * holds a signing key (that owner then owns it). Every tarball it names is either unchanged from
 * the current manifest or the session's upload, whose length and hashes must match. The server
 * then writes the index (for a new component or changed flags), snapshot and timestamp, signed
 * with the mirror's keys. Refusals are PublishRefusal (or SignatureError, HashMismatchError) and
 * leave the mirror unchanged.
 */
export async function acceptComponent(
  storage: Parameters<typeof updateRepository>[0],
  submission: ComponentSubmission,
  options: UpdateRepositoryOptions = {},
): Promise<UpdateResult> {
  const { name } = submission;
  if ((TOP_LEVEL_ROLES as readonly string[]).includes(name)) {
    throw new PublishRefusal("forbidden", `Cannot publish "${name}": it is a reserved name`);
  }
  const file = `${name}.json (submitted)`;
  if (submission.body.length > MAX_MANIFEST_BYTES) {
    throw new PublishRefusal("invalid-manifest", `Cannot accept "${file}": it is too large`);
  }
  const decoded = decodeManifest(submission.body, "component", file);
  const signed = normalizeManifest(decoded.signed);
  const now = options.now ?? new Date();
  checkSubmitted(signed, name, file, now);
  return await updateRepository(storage, async (state) => {
    const current = await loadComponentManifest(storage, state, name);
    const known = current?.manifest.signed.version ?? 0;
    if (signed.version !== known + 1) {
      throw new PublishRefusal(
        "conflict",
        `Cannot accept "${file}" version ${signed.version}: the mirror has version ${known}, so the next is ${
          known + 1
        }; fetch the mirror again and re-sign`,
      );
    }
    const { ownerId, owner } = ownerOf(state.index.manifest.signed, name, decoded.signatures);
    verifySignatures(canonicalBytes(signed), decoded.signatures, owner, file);
    const tarballs = tarballsOf(signed, current?.manifest.signed, submission.upload);
    const index = indexChange(state, name, ownerId, submission.flags, now);
    const change: RepositoryChange = {
      tarballs,
      components: [{ manifest: signed, keys: [], signatures: decoded.signatures }],
      ...(index ? { index } : {}),
    };
    return change;
  }, { ...options, now });
}

function checkSubmitted(signed: ComponentManifest, name: string, file: string, now: Date): void {
  const invalid = (why: string) =>
    new PublishRefusal("invalid-manifest", `Cannot accept "${file}": ${why}`);
  if (signed.id !== name) throw invalid(`its id is "${signed.id}", not "${name}"`);
  try {
    checkName("component", name);
    for (const versions of Object.values(signed.platforms)) {
      for (const [version, item] of Object.entries(versions)) {
        checkName("version", version);
        checkName("version", urlToPath(item.url));
        if (item.url !== `/${urlToPath(item.url)}`) throw invalid(`url "${item.url}" is not /NAME`);
      }
    }
  } catch (error) {
    if (error instanceof UsageError) throw invalid(error.message);
    throw error;
  }
  if (parseRfc3339(signed.expires).getTime() < now.getTime()) {
    throw invalid(`it expired at ${signed.expires}`);
  }
}

/** The component's owner in the index, or (new component) the first owner holding a signer. */
function ownerOf(
  index: IndexManifest,
  name: string,
  signatures: Array<{ keyid: string }>,
): { ownerId: string; owner: Owner } {
  const item = Object.hasOwn(index.components, name) ? index.components[name] : undefined;
  if (item) {
    const owner = Object.hasOwn(index.owners, item.owner) ? index.owners[item.owner] : undefined;
    if (!owner) {
      throw new PublishRefusal("forbidden", `Cannot publish "${name}": its owner is unknown`);
    }
    return { ownerId: item.owner, owner };
  }
  for (const { keyid } of signatures) {
    for (const [ownerId, owner] of Object.entries(index.owners)) {
      if (Object.hasOwn(owner.keys, keyid)) return { ownerId, owner };
    }
  }
  throw new PublishRefusal(
    "forbidden",
    `Cannot publish "${name}": no owner in the index holds a key that signed it ("ferry mirror grant")`,
  );
}

/**
 * The tarballs the change adds: every version item is either the session's upload (named by
 * its url, TiUP's checkAndWrite) or an item the current manifest already has with the same url,
 * length and sha256. An upload no item names is a wrong file name (TiUP's 400).
 */
function tarballsOf(
  signed: ComponentManifest,
  current: ComponentManifest | undefined,
  upload: Upload | undefined,
): TarballUpload[] {
  const published = new Map<string, VersionItem>();
  for (const versions of Object.values(current?.platforms ?? {})) {
    for (const item of Object.values(versions)) published.set(item.url, item);
  }
  const tarballs: TarballUpload[] = [];
  for (const versions of Object.values(signed.platforms)) {
    for (const item of Object.values(versions)) {
      const path = urlToPath(item.url);
      const before = published.get(item.url);
      if (before && before.hashes.sha256 !== item.hashes.sha256) {
        throw new PublishRefusal(
          "conflict",
          `Cannot accept "${path}" with new content: it is already published, and clients keep versioned tarballs forever`,
        );
      }
      if (upload && upload.filename === path) {
        if (tarballs.some((t) => t.path === path)) continue;
        const sha512 = item.hashes.sha512;
        if (
          upload.sha256 !== item.hashes.sha256 || upload.length !== item.length ||
          (sha512 !== undefined && sha512 !== upload.sha512)
        ) {
          throw new PublishRefusal(
            "invalid-tarball",
            `Cannot accept "${path}": the uploaded bytes (${upload.length} bytes, sha256 ${
              upload.sha256.slice(0, 16)
            }…) differ from the manifest (${item.length} bytes, sha256 ${
              String(item.hashes.sha256).slice(0, 16)
            }…)`,
          );
        }
        tarballs.push({
          path,
          sha256: upload.sha256,
          length: upload.length,
          // A copy into the mirror (a storage without links) reads the whole tarball once more:
          // collected as it goes, like the upload, or Bun's spent chunks double the server's RSS.
          open: () =>
            (Readable.toWeb(createReadStream(upload.file)) as unknown as ReadableStream<
              Uint8Array
            >).pipeThrough(collectingGarbageEvery(COLLECT_EVERY_BYTES)),
          // Linked into place instead, where the upload lies in the mirror's own storage.
          ...(upload.stored ? { stored: upload.stored } : {}),
        });
        continue;
      }
      if (before && before.length === item.length) continue;
      if (!upload) {
        throw new PublishRefusal(
          "session-missing",
          `Cannot accept "${path}": no tarball was uploaded in this session, or the session expired; upload it again`,
        );
      }
      throw new PublishRefusal(
        "invalid-tarball",
        `Cannot accept "${path}": the session's upload is "${upload.filename}"`,
      );
    }
  }
  if (upload && tarballs.length === 0) {
    throw new PublishRefusal(
      "invalid-tarball",
      `Cannot accept the upload "${upload.filename}": no version in the manifest has that url`,
    );
  }
  return tarballs;
}

/** A new index when the component is new or a flag changes (TiUP's updateIndexManifest). */
function indexChange(
  state: RepositoryState,
  name: string,
  ownerId: string,
  flags: IndexFlags,
  now: Date,
): IndexManifest | undefined {
  const before = state.index.manifest.signed;
  const item = Object.hasOwn(before.components, name) ? before.components[name] : undefined;
  const given = Object.values(flags).some((v) => v !== undefined);
  if (item && !given) return undefined;
  const index = normalizeManifest(before);
  const next = index.components[name] ?? {
    hidden: false,
    owner: ownerId,
    standalone: false,
    url: componentUrl(name),
    yanked: false,
  };
  if (flags.hidden !== undefined) next.hidden = flags.hidden;
  if (flags.standalone !== undefined) next.standalone = flags.standalone;
  if (flags.yanked !== undefined) next.yanked = flags.yanked;
  index.components[name] = next;
  index.version += 1;
  index.expires = extendExpiry(index.expires, now, DEFAULT_EXPIRY_DAYS.index);
  return index;
}
