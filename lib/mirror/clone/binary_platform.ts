/**
 * The TiUP platform ("linux/arm64") an executable was built for, read from its first bytes: an
 * ELF header (e_machine) or a 64-bit Mach-O header (cputype). Undefined for anything else (a
 * shell script, a format ferry does not know): the caller then takes the platform it was told.
 *
 * @example
 * ```ts
 * binaryPlatform(await readPrefix("dist/linux-arm64/ferry")); // "linux/arm64"
 * ```
 */
export function binaryPlatform(head: Uint8Array): string | undefined {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 20 && view.getUint32(0) === 0x7f454c46) {
    // ELF: EI_DATA (byte 5) gives the byte order of e_machine at offset 18.
    const machine = view.getUint16(18, head[5] === 1);
    const arch = ELF_MACHINES[machine];
    return arch ? `linux/${arch}` : undefined;
  }
  if (head.length >= 8 && view.getUint32(0, true) === MACH_O_64_MAGIC) {
    const arch = MACH_O_CPU_TYPES[view.getUint32(4, true)];
    return arch ? `darwin/${arch}` : undefined;
  }
  return undefined;
}

/** How many leading bytes {@linkcode binaryPlatform} needs. */
export const BINARY_HEADER_BYTES = 20;

/** ELF e_machine values: EM_X86_64 and EM_AARCH64. */
const ELF_MACHINES: Record<number, string> = { 0x3e: "amd64", 0xb7: "arm64" };
/** MH_MAGIC_64, as stored little-endian by both x86-64 and arm64 Macs. */
const MACH_O_64_MAGIC = 0xfeedfacf;
/** Mach-O cputype: CPU_TYPE_X86_64 and CPU_TYPE_ARM64 (CPU_ARCH_ABI64 | base type). */
const MACH_O_CPU_TYPES: Record<number, string> = { 0x01000007: "amd64", 0x0100000c: "arm64" };
