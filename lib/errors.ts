/**
 * ferry's error tree. Callers branch on `instanceof`, never on message text.
 *
 * StorageError → NotFoundError, PathError, AlreadyExistsError
 * VerificationError → SignatureError, ExpiredError, RollbackError, HashMismatchError,
 *                     LengthMismatchError, ManifestFormatError
 * DownloadError → HttpStatusError, TooLargeError, PublishRejectedError
 * UsageError
 *
 * Misuse of an API throws TypeError/RangeError; unparseable text throws SyntaxError.
 *
 * @module
 */

/** Something went wrong reading or writing a storage backend. */
export class StorageError extends Error {
  override name = "StorageError";
}

/** The path does not exist. Every backend throws this, and only this, for a missing path. */
export class NotFoundError extends StorageError {
  override name = "NotFoundError";
  constructor(readonly path: string, options?: ErrorOptions) {
    super(`Cannot find "${path}"`, options);
  }
}

/** A conditional create found the path already present. */
export class AlreadyExistsError extends StorageError {
  override name = "AlreadyExistsError";
  constructor(readonly path: string, options?: ErrorOptions) {
    super(`Cannot create "${path}": it already exists`, options);
  }
}

/** A path was refused before it reached a backend: traversal, absolute, NUL, backslash… */
export class PathError extends StorageError {
  override name = "PathError";
  constructor(readonly path: string, reason: string) {
    super(`Cannot use path "${printable(path)}": ${reason}`);
  }
}

/** Data could not be trusted: a signature, threshold, expiry, version, length or hash failed. */
export class VerificationError extends Error {
  override name = "VerificationError";
}

/** Too few valid signatures, a bad signature from a known key, or a duplicate key id. */
export class SignatureError extends VerificationError {
  override name = "SignatureError";
}

/** A manifest (or the manifest that declares its keys) is past its expiry. */
export class ExpiredError extends VerificationError {
  override name = "ExpiredError";
}

/** A version went backwards. */
export class RollbackError extends VerificationError {
  override name = "RollbackError";
}

/** Bytes do not hash to what a signed manifest says. */
export class HashMismatchError extends VerificationError {
  override name = "HashMismatchError";
}

/** Bytes are not as long as a signed manifest says. */
export class LengthMismatchError extends VerificationError {
  override name = "LengthMismatchError";
}

/** A manifest is not in TiUP's format: a field is missing, of the wrong type or out of range. */
export class ManifestFormatError extends VerificationError {
  override name = "ManifestFormatError";
}

/** A network transfer failed. */
export class DownloadError extends Error {
  override name = "DownloadError";
}

/** The server answered with a status we cannot use. */
export class HttpStatusError extends DownloadError {
  override name = "HttpStatusError";
  constructor(readonly url: string, readonly status: number, options?: ErrorOptions) {
    super(`Cannot fetch "${url}": the server answered ${status}`, options);
  }
}

/**
 * A mirror's publish API (tiup-server's, or `ferry mirror serve --publish`) refused a request:
 * `httpStatus` is the HTTP status (409: the manifest is no longer the next version), `status`
 * the answer's status text ("MANIFEST CONFLICT").
 */
export class PublishRejectedError extends DownloadError {
  override name = "PublishRejectedError";
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly status: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A download went past the byte cap that applies to it. */
export class TooLargeError extends DownloadError {
  override name = "TooLargeError";
  constructor(readonly what: string, readonly limit: number, options?: ErrorOptions) {
    super(`Refusing "${what}": it is larger than the limit of ${limit} bytes`, options);
  }
}

/** The user asked for something that cannot be done as asked (bad flag, bad argument…). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Makes control characters in a user-supplied string visible in a message. */
export function printable(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : char;
  }
  return out;
}
