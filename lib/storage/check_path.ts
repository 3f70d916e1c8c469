import { PathError } from "../errors.ts";

/** Longest key accepted, in characters; longer ones are refused before any I/O. */
export const MAX_PATH_LENGTH = 1024;
/** Longest single segment: what common filesystems allow. */
export const MAX_SEGMENT_LENGTH = 255;

/**
 * The one path rule every backend applies first. A storage key is relative, forward-slash
 * separated, and cannot leave the storage root, so it must not contain `..` or `.` segments,
 * empty segments, a leading `/`, backslashes, NUL or other control characters, and must be of
 * sane length. Returns the path unchanged when it is acceptable; throws PathError otherwise.
 *
 * Decoding (URL percent-escapes) is the caller's job and happens before this check, so
 * `%2e%2e` arrives here as `..` and is refused.
 */
export function checkPath(path: string): string {
  if (typeof path !== "string") throw new TypeError("A storage path must be a string");
  if (path === "") throw new PathError(path, "it is empty");
  if (path.length > MAX_PATH_LENGTH) {
    throw new PathError(path.slice(0, 64) + "…", `it is longer than ${MAX_PATH_LENGTH} characters`);
  }
  if (path.includes("\0")) throw new PathError(path, "it contains a NUL byte");
  if (hasControlCharacter(path)) {
    throw new PathError(path, "it contains a control character");
  }
  if (path.includes("\\")) throw new PathError(path, "it contains a backslash");
  if (path.startsWith("/")) throw new PathError(path, "it is absolute");
  if (/^[a-zA-Z]:/.test(path)) throw new PathError(path, "it names a drive");
  for (const segment of path.split("/")) {
    if (segment === "") throw new PathError(path, "it has an empty segment");
    if (segment === "." || segment === "..") {
      throw new PathError(path, `it has a "${segment}" segment`);
    }
    if (segment.length > MAX_SEGMENT_LENGTH) {
      throw new PathError(path, `a segment is longer than ${MAX_SEGMENT_LENGTH} characters`);
    }
  }
  return path;
}

/**
 * Checks a list prefix: "" (everything) or a path-like prefix that may end in "/".
 */
export function checkPrefix(prefix: string): string {
  if (prefix === "") return prefix;
  checkPath(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
  return prefix;
}

/** True when `text` has a C0 control character (NUL included) or DEL. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
