import { COMMON_FUNCTIONS, expectedHashFunction, type ScriptFiles } from "./_shell_parts.ts";

/** The file name TiUP uses for the offline installer at the root of a clone. */
export const LOCAL_INSTALL_SCRIPT = "local_install.sh";

/**
 * The offline installer a clone puts at its root (TIUP-FORMAT.md §7, ferry's version): a POSIX
 * sh script that, run from wherever the mirror directory was copied to,
 *
 * 1. detects os (Linux, Darwin) and arch (amd64/x86_64, arm64/aarch64), or fails;
 * 2. extracts `ferry-$os-$arch.tar.gz` from the script's directory into `$FERRY_HOME/bin`
 *    (default `~/.ferry`), or TiUP's `tiup-$os-$arch.tar.gz` into `$TIUP_HOME/bin` when only
 *    that is there, after checking the SHA-256 the clone recorded in the script;
 * 3. copies the mirror's `root.json` (checked the same way) to `bin/root.json` and drops
 *    cached manifests of any earlier mirror;
 * 4. points the client at the directory (`mirror set DIR --silent`; for ferry it also writes
 *    `ferry.toml` itself first, so this works with any ferry version);
 * 5. adds `bin` to PATH in the shell's profile once, and prints what to do next.
 *
 * It needs no network. The result is the same bytes for the same `files`.
 */
export function renderLocalInstallScript(files: ScriptFiles): string {
  return `#!/bin/sh
# Installs ferry (or tiup) from this mirror directory and points it at the directory.
# Written by \`ferry mirror clone\`. Usage: sh local_install.sh
set -e

${COMMON_FUNCTIONS}

${expectedHashFunction(files)}

script_dir=$(cd "$(dirname "$0")" && pwd)
detect_platform
command -v tar >/dev/null 2>&1 || fail "tar is required: install it and run this script again"

if [ -f "$script_dir/ferry-$os-$arch.tar.gz" ]; then
  client=ferry
  home=\${FERRY_HOME:-$HOME/.ferry}
elif [ -f "$script_dir/tiup-$os-$arch.tar.gz" ]; then
  client=tiup
  home=\${TIUP_HOME:-$HOME/.tiup}
else
  fail "this mirror has no ferry or tiup package for $os/$arch: clone it with --os $os --arch $arch"
fi
[ -f "$script_dir/root.json" ] || fail "$script_dir/root.json is missing: this is not a complete mirror"
bin_dir="$home/bin"
mkdir -p "$bin_dir"

check_file "$script_dir/$client-$os-$arch.tar.gz" "$client-$os-$arch.tar.gz"
check_file "$script_dir/root.json" root.json
tar -xzf "$script_dir/$client-$os-$arch.tar.gz" -C "$bin_dir"
chmod 755 "$bin_dir/$client"
cp "$script_dir/root.json" "$bin_dir/root.json"
rm -rf "$home/manifests"

if [ "$client" = ferry ]; then
  write_config "$home" "$script_dir"
fi
if ! FERRY_HOME="$home" TIUP_HOME="$home" "$bin_dir/$client" mirror set "$script_dir" --silent; then
  echo "Note: \\"$client mirror set\\" did not run; the mirror was set in $home/ferry.toml" >&2
fi

add_to_path "$bin_dir"

echo "Installed $client into $bin_dir, using the mirror in $script_dir"
echo "Next:"
echo "  . $PROFILE        # or open a new shell"
echo "  $client list      # what the mirror offers"
`;
}
