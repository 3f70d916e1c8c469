import {
  COMMON_FUNCTIONS,
  expectedHashFunction,
  type ScriptFiles,
  shellQuote,
} from "./_shell_parts.ts";

/** The file name of the online installer at the root of a clone. */
export const INSTALL_SCRIPT = "install.sh";

/** Options for {@linkcode renderInstallScript}. */
export interface InstallScriptOptions extends ScriptFiles {
  /** The mirror's URL as clients will reach it (`--public-url`); else FERRY_MIRROR is required. */
  publicUrl?: string;
}

/**
 * The installer for a mirror served over HTTP: `curl http://host:port/install.sh | sh`
 * (what seed 000 shows; TiUP's clones have none). A POSIX sh script that
 *
 * 1. takes the mirror URL from `$FERRY_MIRROR`, else `$TIUP_MIRRORS`, else the URL given at
 *    clone time (`publicUrl`); with none it fails and prints the command line to use;
 * 2. detects os/arch, downloads `ferry-$os-$arch.tar.gz` (or `tiup-$os-$arch.tar.gz`) and
 *    `root.json` with curl (or wget), and checks each against the SHA-256 the clone recorded in
 *    this script before installing anything into `$FERRY_HOME/bin` (default `~/.ferry`);
 * 3. points the client at the mirror (`mirror set URL --silent`, plus `ferry.toml` for ferry),
 *    adds `bin` to PATH in the shell's profile once, and prints what to do next.
 */
export function renderInstallScript(options: InstallScriptOptions): string {
  const url = options.publicUrl?.replace(/\/+$/, "") ?? "";
  return `#!/bin/sh
# Installs ferry (or tiup) from the mirror this script was served from.
# Written by \`ferry mirror clone\`. Usage:
#   curl -fsSL http://HOST:PORT/install.sh | FERRY_MIRROR=http://HOST:PORT sh
set -e

MIRROR=${shellQuote(url)}

${COMMON_FUNCTIONS}

${expectedHashFunction(options)}

fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    fail "curl or wget is required"
  fi
}

repo=\${FERRY_MIRROR:-\${TIUP_MIRRORS:-$MIRROR}}
if [ -z "$repo" ]; then
  fail "no mirror URL: run it as  curl -fsSL http://HOST:PORT/install.sh | FERRY_MIRROR=http://HOST:PORT sh"
fi
repo=\${repo%/}
case "$repo" in
  http://* | https://*) ;;
  *) fail "the mirror URL must start with http:// or https:// (got $repo)" ;;
esac
detect_platform
command -v tar >/dev/null 2>&1 || fail "tar is required: install it and run this script again"

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t ferry-install)
trap 'rm -rf "$tmp"' EXIT
if fetch "$repo/ferry-$os-$arch.tar.gz" "$tmp/client.tar.gz"; then
  client=ferry
  home=\${FERRY_HOME:-$HOME/.ferry}
elif fetch "$repo/tiup-$os-$arch.tar.gz" "$tmp/client.tar.gz"; then
  client=tiup
  home=\${TIUP_HOME:-$HOME/.tiup}
else
  fail "$repo has no ferry or tiup package for $os/$arch"
fi
fetch "$repo/root.json" "$tmp/root.json" || fail "cannot fetch $repo/root.json"
check_file "$tmp/client.tar.gz" "$client-$os-$arch.tar.gz"
check_file "$tmp/root.json" root.json

bin_dir="$home/bin"
mkdir -p "$bin_dir"
tar -xzf "$tmp/client.tar.gz" -C "$bin_dir"
chmod 755 "$bin_dir/$client"
cp "$tmp/root.json" "$bin_dir/root.json"
rm -rf "$home/manifests"

if [ "$client" = ferry ]; then
  write_config "$home" "$repo"
fi
if ! FERRY_HOME="$home" TIUP_HOME="$home" "$bin_dir/$client" mirror set "$repo" --silent; then
  echo "Note: \\"$client mirror set\\" did not run; the mirror was set in $home/ferry.toml" >&2
fi

add_to_path "$bin_dir"

echo "Installed $client into $bin_dir, using the mirror $repo"
echo "Next:"
echo "  . $PROFILE        # or open a new shell"
echo "  $client list      # what the mirror offers"
`;
}
