/**
 * ferry's entry point: argv → command. Nothing else lives here.
 *
 * @module
 */
import { ALL_COMMANDS } from "./commands/all_commands.ts";
import { runComponent } from "./commands/run_component.ts";
import { runCli } from "./lib/cli/run_cli.ts";
import { FERRY_VERSION } from "./lib/version.ts";

const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // A second signal means "now": do not wait for graceful shutdown.
    if (controller.signal.aborted) process.exit(signal === "SIGINT" ? 130 : 143);
    controller.abort(signal);
  });
}

const code = await runCli(process.argv.slice(2), {
  commands: ALL_COMMANDS,
  version: FERRY_VERSION,
  signal: controller.signal,
  fallback: runComponent,
});
process.exit(code);
