/**
 * Every command ferry knows, in the order `ferry --help` lists them. One import and one entry per
 * command file; nothing else belongs here.
 *
 * @module
 */
import type { Command } from "../lib/cli/command.ts";
import { mirrorCloneCommand } from "./mirror/clone.ts";
import { mirrorGenkeyCommand } from "./mirror/genkey.ts";
import { mirrorGrantCommand } from "./mirror/grant.ts";
import { mirrorInitCommand } from "./mirror/init.ts";
import { mirrorMergeCommand } from "./mirror/merge.ts";
import { mirrorModifyCommand } from "./mirror/modify.ts";
import { mirrorPublishCommand } from "./mirror/publish.ts";
import { mirrorRenewCommand } from "./mirror/renew.ts";
import { mirrorRotateCommand } from "./mirror/rotate.ts";
import { mirrorSignCommand } from "./mirror/sign.ts";
import { mirrorVerifyCommand } from "./mirror/verify.ts";
import { mirrorServeCommand } from "./mirror/serve.ts";
import { mirrorSetCommand } from "./mirror/set.ts";
import { mirrorShowCommand } from "./mirror/show.ts";
import { installCommand } from "./install.ts";
import { listCommand } from "./list.ts";
import { uninstallCommand } from "./uninstall.ts";
import { packageCommand } from "./package.ts";
import { proxyCommand } from "./proxy.ts";

export const ALL_COMMANDS: Command[] = [
  listCommand,
  installCommand,
  uninstallCommand,
  mirrorSetCommand,
  mirrorShowCommand,
  mirrorInitCommand,
  mirrorGenkeyCommand,
  mirrorSignCommand,
  mirrorPublishCommand,
  mirrorModifyCommand,
  mirrorRenewCommand,
  mirrorGrantCommand,
  mirrorRotateCommand,
  mirrorServeCommand,
  mirrorVerifyCommand,
  mirrorCloneCommand,
  mirrorMergeCommand,
  packageCommand,
  proxyCommand,
];
