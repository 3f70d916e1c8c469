import { DownloadError, UsageError, VerificationError } from "../errors.ts";

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
  if (error instanceof VerificationError) return ExitCode.verification;
  if (error instanceof DownloadError) return ExitCode.network;
  return ExitCode.failure;
}
