import { DownloadError, TooLargeError, UsageError, VerificationError } from "../errors.ts";

/** Process exit codes. Scripts may rely on them; keep them stable. */
export const ExitCode = {
  ok: 0,
  /** Anything not covered below: I/O errors, bugs, a port in use. */
  failure: 1,
  /** Bad command line: unknown command or flag, wrong arguments. */
  usage: 2,
  /** Something could not be verified: signature, expiry, hash, length, rollback. */
  verification: 3,
  /** A network transfer failed: unreachable host, HTTP error, timeout. */
  network: 4,
  /** Interrupted by SIGINT. */
  interrupted: 130,
} as const;

export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** Maps an error to the exit code that describes it. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof UsageError) return ExitCode.usage;
  // A body over its cap is more than the signed metadata (or TUF's fixed caps) allow: data
  // that cannot be trusted, however it arrived, and not a transfer that failed.
  if (error instanceof VerificationError || error instanceof TooLargeError) {
    return ExitCode.verification;
  }
  if (error instanceof DownloadError) return ExitCode.network;
  return ExitCode.failure;
}

const SERIOUSNESS: readonly ExitCode[] = [
  ExitCode.verification,
  ExitCode.network,
  ExitCode.usage,
  ExitCode.failure,
];

/**
 * The exit code for a run that collected several failures (clone, merge: one per file), each
 * mapped by {@linkcode exitCodeFor}; the most serious wins: verification (something may be an
 * attack), then network (worth a retry), then the rest. `ok` when there are none.
 */
export function exitCodeForAll(errors: Iterable<unknown>): ExitCode {
  const codes = new Set<ExitCode>();
  for (const error of errors) codes.add(exitCodeFor(error));
  return SERIOUSNESS.find((code) => codes.has(code)) ?? ExitCode.ok;
}
