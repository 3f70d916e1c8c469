import type { FlagSpec } from "../lib/cli/command.ts";

/** `--os` and `--arch`, as `ferry package` and `ferry mirror publish` both take them. */
export const PLATFORM_FLAGS: Record<"os" | "arch", FlagSpec> = {
  os: {
    type: "string",
    valueName: "OS",
    description: "Target OS: linux, darwin or any (default: this host's)",
  },
  arch: {
    type: "string",
    valueName: "ARCH",
    description: "Target architecture: amd64, arm64 or any (default: this host's)",
  },
};
