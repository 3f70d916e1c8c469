import assert from "node:assert/strict";
import { test } from "node:test";
import { binaryPlatform } from "../../../lib/mirror/clone/binary_platform.ts";

const hex = (text: string) => new Uint8Array(text.split(" ").map((b) => parseInt(b, 16)));

test("binaryPlatform() names the platform of ELF and Mach-O headers", () => {
  // The first 20 bytes of the four `bun build --compile --target=…` outputs.
  const cases: Array<[string, string | undefined]> = [
    ["7f 45 4c 46 02 01 01 00 00 00 00 00 00 00 00 00 02 00 3e 00", "linux/amd64"],
    ["7f 45 4c 46 02 01 01 00 00 00 00 00 00 00 00 00 02 00 b7 00", "linux/arm64"],
    ["cf fa ed fe 0c 00 00 01 00 00 00 00 02 00 00 00 15 00 00 00", "darwin/arm64"],
    ["cf fa ed fe 07 00 00 01 03 00 00 80 02 00 00 00 15 00 00 00", "darwin/amd64"],
    // RISC-V ELF, a shell script, too short to tell.
    ["7f 45 4c 46 02 01 01 00 00 00 00 00 00 00 00 00 02 00 f3 00", undefined],
    ["23 21 2f 62 69 6e 2f 73 68 0a", undefined],
    ["7f 45 4c", undefined],
  ];
  for (const [bytes, platform] of cases) assert.equal(binaryPlatform(hex(bytes)), platform, bytes);
});
