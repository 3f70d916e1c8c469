/**
 * Every command ferry knows, in the order `ferry --help` lists them: its name, its one-line
 * summary, and how to load its module (flags, help text and implementation). Nothing else
 * belongs here.
 *
 * A command's module is imported only when that command runs or its --help is asked for, so
 * `ferry --version`, `ferry --help` and `ferry mirror --help` load none of the commands'
 * dependencies (Hono, tar, yaml, bcryptjs…). Each `import()` names its file as a plain string so
 * that `bun build --compile` bundles it (tests/cli/all_commands_test.ts checks both).
 *
 * @module
 */
import type { CommandEntry } from "../lib/cli/command.ts";

export const ALL_COMMANDS: CommandEntry[] = [
  {
    name: "list",
    summary: "List the mirror's components, or one component's versions",
    load: async () => (await import("./list.ts")).listCommand,
  },
  {
    name: "install",
    summary: "Install components from the mirror",
    load: async () => (await import("./install.ts")).installCommand,
  },
  {
    name: "uninstall",
    summary: "Remove installed components",
    load: async () => (await import("./uninstall.ts")).uninstallCommand,
  },
  {
    name: "mirror set",
    summary: "Set the mirror this profile uses and trust its root.json",
    load: async () => (await import("./mirror/set.ts")).mirrorSetCommand,
  },
  {
    name: "mirror show",
    summary: "Print the mirror address this profile uses",
    load: async () => (await import("./mirror/show.ts")).mirrorShowCommand,
  },
  {
    name: "mirror init",
    summary: "Create an empty mirror (root, index, snapshot, timestamp and their keys)",
    load: async () => (await import("./mirror/init.ts")).mirrorInitCommand,
  },
  {
    name: "mirror genkey",
    summary: "Generate a key pair for signing components ($FERRY_HOME/keys/NAME.json)",
    load: async () => (await import("./mirror/genkey.ts")).mirrorGenkeyCommand,
  },
  {
    name: "mirror sign",
    summary: "Add your signature to a manifest file (or one served at an http URL)",
    load: async () => (await import("./mirror/sign.ts")).mirrorSignCommand,
  },
  {
    name: "mirror publish",
    summary: "Publish a component tarball into the mirror",
    load: async () => (await import("./mirror/publish.ts")).mirrorPublishCommand,
  },
  {
    name: "mirror modify",
    summary: "Change a published component: description, hidden, standalone, yanked",
    load: async () => (await import("./mirror/modify.ts")).mirrorModifyCommand,
  },
  {
    name: "mirror renew",
    summary: "Extend the expiry of a component and of the mirror's snapshot and timestamp",
    load: async () => (await import("./mirror/renew.ts")).mirrorRenewCommand,
  },
  {
    name: "mirror grant",
    summary: "Make a key the owner of new components in the mirror",
    load: async () => (await import("./mirror/grant.ts")).mirrorGrantCommand,
  },
  {
    name: "mirror rotate",
    summary: "Replace root.json's keys or extend its expiry: prepare, sign offline, apply",
    load: async () => (await import("./mirror/rotate.ts")).mirrorRotateCommand,
  },
  {
    name: "mirror serve",
    summary: "Serve a mirror directory over HTTP(S) to TiUP and ferry clients",
    load: async () => (await import("./mirror/serve.ts")).mirrorServeCommand,
  },
  {
    name: "mirror verify",
    summary: "Check a whole mirror as a client would: signatures, expiry, every tarball's hashes",
    load: async () => (await import("./mirror/verify.ts")).mirrorVerifyCommand,
  },
  {
    name: "mirror clone",
    summary: "Clone a mirror (or part of it) into a directory, verified, for offline use",
    load: async () => (await import("./mirror/clone.ts")).mirrorCloneCommand,
  },
  {
    name: "mirror merge",
    summary: "Merge the components and versions of other mirrors into this one, verified",
    load: async () => (await import("./mirror/merge.ts")).mirrorMergeCommand,
  },
  {
    name: "package",
    summary: "Pack files into a component tarball for `ferry mirror publish` (tiup package)",
    load: async () => (await import("./package.ts")).packageCommand,
  },
  {
    name: "proxy",
    summary: "Run a container-registry pull proxy with a verified local cache",
    load: async () => (await import("./proxy.ts")).proxyCommand,
  },
  {
    name: "image save",
    summary: "Save container images into a bundle directory (OCI layout + TiUP mirror)",
    load: async () => (await import("./image/save.ts")).imageSaveCommand,
  },
  {
    name: "image verify",
    summary: "Check an image bundle offline: signed inventory, every manifest and blob",
    load: async () => (await import("./image/verify.ts")).imageVerifyCommand,
  },
  {
    name: "image diff",
    summary: "Write a delta bundle with only what the far side's inventory lacks",
    load: async () => (await import("./image/diff.ts")).imageDiffCommand,
  },
  {
    name: "image load",
    summary: "Verify a delta bundle and merge it into an image bundle",
    load: async () => (await import("./image/load.ts")).imageLoadCommand,
  },
  {
    name: "image push",
    summary: "Push an image bundle into a registry (Harbor, Distribution, zot), digests kept",
    load: async () => (await import("./image/push.ts")).imagePushCommand,
  },
];
