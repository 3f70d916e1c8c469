import type { FallbackRunner } from "../lib/cli/run_cli.ts";
import { UsageError } from "../lib/errors.ts";

/**
 * `ferry <component>[:version] [args...]`: what runs when argv names no command.
 * Until the component client lands this only explains itself.
 */
export const runComponent: FallbackRunner = (name) => {
  return Promise.reject(
    new UsageError(`Unknown command "${name}" (see "ferry --help")`),
  );
};
