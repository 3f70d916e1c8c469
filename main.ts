/**
 * ferry's entry point: argv → command. Nothing else lives here.
 *
 * Only the command table and the dispatcher are imported up front; a command's module (and the
 * component runner) is loaded when it is used, so `ferry --version` and `ferry --help` start
 * as fast as the runtime allows.
 *
 * @module
 */
import { ALL_COMMANDS } from "./commands/all_commands.ts";
import { type FallbackRunner, runCli } from "./lib/cli/run_cli.ts";
import { FERRY_VERSION } from "./lib/version.ts";

/** How many components are running; 0 until the component runner has been loaded. */
let runningComponentCount = () => 0;

const runComponent: FallbackRunner = async (name, args, context) => {
  const [runner, processes] = await Promise.all([
    import("./commands/run_component.ts"),
    import("./lib/client/run_component_process.ts"),
  ]);
  runningComponentCount = processes.runningComponentCount;
  return await runner.runComponent(name, args, context);
};

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
