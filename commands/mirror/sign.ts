import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { defineCommand } from "../../lib/cli/command.ts";
import { DownloadError, HttpStatusError, UsageError } from "../../lib/errors.ts";
import { downloadErrors } from "../../lib/http/download_errors.ts";
import { DEFAULT_FETCH_POLICY, fetchWithPolicy } from "../../lib/http/fetch_policy.ts";
import { addSignature } from "../../lib/format/add_signature.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { isRemoteLocation } from "../../lib/storage/open_storage.ts";
import { KEY_FLAG, loadOwnerKey } from "./_writer_context.ts";

/** Manifests are small; a root with many keys stays far below this. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export const mirrorSignCommand = defineCommand({
  usage: "<FILE|URL> [-k KEY] [--timeout SECONDS]",
  description: `Signs the manifest's "signed" object with your key and appends {keyid, sig} to its
signatures, as \`tiup mirror sign\` does; the file is rewritten as canonical JSON. A key that has
already signed is refused. With an http(s) URL the manifest is fetched, signed and POSTed back.

Typical use: signing a new root prepared with "ferry mirror rotate --prepare":
  ferry mirror sign new-root.json -k /secure/1a2b3c4d5e6f7a8b-root.json`,
  flags: {
    key: KEY_FLAG,
    timeout: {
      type: "string",
      valueName: "SECONDS",
      default: "10",
      description: "HTTP timeout for a URL, in seconds",
    },
  },
  positionals: { min: 1, max: 1, names: "FILE|URL" },
  async run({ args, options, out, env, signal }) {
    const target = args[0]!;
    const key = await loadOwnerKey(options.key, env);
    if (isRemoteLocation(target)) {
      const seconds = Number(options.timeout ?? "10");
      if (!Number.isFinite(seconds) || seconds <= 0) {
        throw new UsageError(
          `Cannot use --timeout "${options.timeout}": give seconds`,
        );
      }
      const timeoutMs = seconds * 1000;
      // --timeout bounds the whole exchange (GET and POST); the policy adds retries of
      // transient failures, the byte cap and the stall guard within it.
      const policy = {
        ...DEFAULT_FETCH_POLICY,
        headersTimeoutMs: timeoutMs,
        idleTimeoutMs: timeoutMs,
        deadlineAllowanceMs: timeoutMs,
      };
      const timeout = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
      const send = (init: RequestInit, maxBytes?: number) =>
        fetchWithPolicy((input, i) => fetch(input, i), target, init, policy, {
          signal: timeout,
          errors: downloadErrors(target, policy),
          ...(maxBytes === undefined ? {} : { maxBytes }),
        }).catch((error) => {
          if (signal.aborted || !timeout.aborted) throw error;
          throw new DownloadError(`Cannot fetch "${target}": no answer within ${seconds} s`);
        });
      const response = await send({ method: "GET" }, MAX_MANIFEST_BYTES);
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw new HttpStatusError(target, response.status);
      }
      const bytes = await collectBytes(response.body, {
        maxBytes: MAX_MANIFEST_BYTES,
        what: target,
      });
      const signed = addSignature(bytes, key, target);
      // A POST is never sent twice (the policy retries idempotent methods only).
      const posted = await send({
        method: "POST",
        body: signed as Uint8Array<ArrayBuffer>,
        headers: { "content-type": "application/json" },
      });
      await posted.body?.cancel();
      if (!posted.ok) throw new HttpStatusError(target, posted.status);
      out.print(`Signed ${target} with key ${key.id.slice(0, 16)}`);
      return 0;
    }
    const path = nodePath.resolve(target);
    const info = await fs.stat(path).catch(() => undefined);
    if (!info?.isFile()) throw new UsageError(`Cannot sign "${target}": no such file`);
    if (info.size > MAX_MANIFEST_BYTES) {
      throw new UsageError(`Cannot sign "${target}": it is too large to be a manifest`);
    }
    const bytes = new Uint8Array(await fs.readFile(path));
    const signed = addSignature(bytes, key, target);
    await new LocalStorage(nodePath.dirname(path)).write(nodePath.basename(path), signed, {
      mode: info.mode & 0o777,
    });
    out.print(`Signed ${target} with key ${key.id.slice(0, 16)}`);
    return 0;
  },
});
