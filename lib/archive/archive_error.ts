import { VerificationError } from "../errors.ts";

/**
 * A tarball that cannot be unpacked safely or at all: an entry that would land outside the
 * destination, a device file, a link that escapes, too many bytes or entries, or a damaged gzip
 * or tar stream. It is a {@linkcode VerificationError} (exit code 3): the archive came from
 * somewhere else and failed a check before anything of it was made visible.
 *
 * @example
 * ```ts
 * new ArchiveError("hello.tar.gz", 'entry "../evil" has a ".." segment', "../evil");
 * // message: Cannot extract "hello.tar.gz": entry "../evil" has a ".." segment
 * ```
 */
export class ArchiveError extends VerificationError {
  override name = "ArchiveError";
  constructor(
    readonly archive: string,
    reason: string,
    readonly entry?: string,
    options?: ErrorOptions,
  ) {
    super(`Cannot extract "${archive}": ${reason}`, options);
  }
}
