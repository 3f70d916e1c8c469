/** Resolves when ferry is asked to stop (SIGINT/SIGTERM abort the command's signal). */
export function waitForStop(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
