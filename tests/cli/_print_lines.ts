/**
 * Child process for output_test.ts: prints COUNT numbered lines through the default Output (the
 * process's own stdout and stderr), then exits at once with process.exit, as main.ts does.
 *
 * @module
 */
import { createOutput } from "../../lib/cli/output.ts";

const count = Number(process.argv[2] ?? "1000");
const out = createOutput();
const padding = "x".repeat(200);
for (let i = 0; i < count; i++) {
  out.print(`${i} ${padding}`);
  if (i % 100 === 0) out.info(`note ${i}`);
}
// Text that a console format would change: it must come out as it is.
out.print("100% %s %d %o %%");
out.print("end");
process.exit(0);
