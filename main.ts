/**
 * ferry's entry point: argv → command. Nothing else lives here.
 *
 * @module
 */
import { ALL_COMMANDS } from "./commands/all_commands.ts";
import { runComponent } from "./commands/run_component.ts";
import { runCli } from "./lib/cli/run_cli.ts";
import { runningComponentCount } from "./lib/client/run_component_process.ts";
import { FERRY_VERSION } from "./lib/version.ts";

const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // A second signal means "now": do not wait for graceful shutdown — unless a component is
    // running: the runner forwards the signal to it and ferry exits with the child's code
    // (exiting here would orphan the child).
    if (controller.signal.aborted && runningComponentCount() === 0) {
      process.exit(signal === "SIGINT" ? 130 : 143);
    }
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
