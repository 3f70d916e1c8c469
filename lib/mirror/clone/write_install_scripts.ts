import { NotFoundError } from "../../errors.ts";
import { sha256Hex } from "../../format/hash.ts";
import { readBytes } from "../../storage/read_bytes.ts";
import type { Storage } from "../../storage/storage.ts";
import { INSTALL_SCRIPT, renderInstallScript } from "../install_scripts/render_install_script.ts";
import {
  LOCAL_INSTALL_SCRIPT,
  renderLocalInstallScript,
} from "../install_scripts/render_local_install_script.ts";
import type { VerifiedJournal } from "./verified_journal.ts";

/** Options for {@linkcode writeInstallScripts}. */
export interface InstallScriptsOptions {
  /** The journal that vouches for the installer tarballs' hashes. */
  journal: VerifiedJournal;
  /** The URL clients will use, baked into install.sh. */
  publicUrl?: string | undefined;
}

/**
 * Writes `local_install.sh` and `install.sh` with the SHA-256 of each installer tarball of
 * `paths` that is in the target (as the journal recorded it when it was verified) and of the
 * target's root.json, each only when its text changes.
 */
export async function writeInstallScripts(
  target: Storage,
  paths: readonly string[],
  options: InstallScriptsOptions,
): Promise<void> {
  const tarballs: Record<string, string> = {};
  for (const path of paths) {
    const sha256 = await journalHash(target, path, options.journal);
    if (sha256) tarballs[path] = sha256;
  }
  const rootSha256 = sha256Hex(await readBytes(target, "root.json"));
  const local = renderLocalInstallScript({ tarballs, rootSha256 });
  const online = renderInstallScript({
    tarballs,
    rootSha256,
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
  });
  await writeIfDifferent(target, LOCAL_INSTALL_SCRIPT, local);
  await writeIfDifferent(target, INSTALL_SCRIPT, online);
  await options.journal.save();
}

async function journalHash(
  target: Storage,
  path: string,
  journal: VerifiedJournal,
): Promise<string | undefined> {
  try {
    const stat = await target.stat(path);
    return journal.lookup(stat);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

async function writeIfDifferent(target: Storage, path: string, text: string): Promise<void> {
  try {
    const current = new TextDecoder().decode(await readBytes(target, path, { maxBytes: 1 << 20 }));
    if (current === text) return;
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  await target.write(path, text, { mode: 0o755 });
}
