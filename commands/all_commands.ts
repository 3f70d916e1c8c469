/**
 * Every command ferry knows, in the order `ferry --help` lists them. One import and one entry per
 * command file; nothing else belongs here.
 *
 * @module
 */
import type { Command } from "../lib/cli/command.ts";
import { mirrorServeCommand } from "./mirror/serve.ts";
import { packageCommand } from "./package.ts";
import { proxyCommand } from "./proxy.ts";

export const ALL_COMMANDS: Command[] = [
  mirrorServeCommand,
  packageCommand,
  proxyCommand,
];
