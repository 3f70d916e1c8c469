/** A flat file name that cannot be mistaken for a manifest, a script or a private file. */
const SAFE_FILE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/**
 * Whether a VersionItem `url` from a source mirror may be written into a clone. TiUP keeps every
 * tarball flat in the mirror root (TIUP-FORMAT.md §1.4), and a clone writes each one at its url,
 * so a hostile source could otherwise aim a "tarball" at `keys/…`, `root.json`,
 * `timestamp.json`, `local_install.sh` or a dotfile. Accepted: `/<name>` with one safe segment
 * that does not end in `.json` or `.sh` and is not the writer's `lock`.
 */
export function isSafeTarballUrl(url: string): boolean {
  if (typeof url !== "string" || !url.startsWith("/")) return false;
  const name = url.slice(1);
  if (name.length > 255 || !SAFE_FILE.test(name)) return false;
  const lower = name.toLowerCase();
  return !lower.endsWith(".json") && !lower.endsWith(".sh") && lower !== "lock";
}
