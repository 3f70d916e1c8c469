#!/usr/bin/env bash
# Builds the single ferry executable at dist/ferry and checks that it runs.
#
#   bash scripts/build_binary.sh            # -> dist/ferry (Bun runtime embedded, ~100 MB)
#   FERRY_OUT=/tmp/ferry bash scripts/build_binary.sh
#   bash scripts/build_binary.sh --all      # also dist/<os>-<arch>/ferry for the four TiUP
#                                           # platforms (linux|darwin x amd64|arm64)
#
# With --all, `ferry mirror clone` run as dist/ferry finds the other platforms' binaries beside
# itself (dist/linux-arm64/ferry, ...) and carries one per selected platform, so local_install.sh
# works on every host the clone is made for. Cross-compiling fetches each target's Bun runtime
# (~30-45 MB download, ~100 MB unpacked) from the npm registry (@oven/bun-<os>-<arch>) once, into
# Bun's install cache: $BUN_INSTALL_CACHE_DIR, default ~/.bun/install/cache (cache that directory
# in CI). A built binary whose header names another platform is refused. The linux/arm64 binary
# is run under qemu-aarch64-static when that is installed (apt: qemu-user-static and
# libc6-arm64-cross); darwin binaries can only be checked for their Mach-O header here.
#
# Why Bun: `bun build --compile` works offline from the npm package. The Deno alternative is
#   node_modules/.bin/deno compile -A --output dist/ferry main.ts
# which needs to download its runtime (denort) from dl.deno.land — not reachable from these
# machines, so it is not used here; it works where that download is allowed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
out="${FERRY_OUT:-dist/ferry}"
mkdir -p "$(dirname "$out")"
# --splitting: each command's module (loaded by a dynamic import) becomes its own chunk inside
# the binary, parsed only when that command runs; without it Bun puts everything in one bundle
# that is parsed on every start (`ferry --version` took ~95 ms instead of ~20 ms, issue 11).
# --bytecode (needs --format=esm here, for main.ts's top-level await) saves parsing the chunks a
# command does load.
# --no-compile-autoload-dotenv/-bunfig: a compiled Bun program otherwise reads .env and
# bunfig.toml from the caller's working directory at start (ferry must not take settings from
# whatever directory it is run in), and looks for them on every start.
# The same flags for every platform's build (the cross-compiled ones below too).
BUILD_FLAGS=(--compile --minify-syntax --splitting --bytecode --format=esm
  --no-compile-autoload-dotenv --no-compile-autoload-bunfig)
timeout 600 bun build "${BUILD_FLAGS[@]}" main.ts --outfile "$out"
version="$(timeout 30 "$out" --version)"
case "$version" in
  "ferry "*) echo "built $out: $version ($(du -h "$out" | cut -f1))" ;;
  *) echo "error: $out --version printed '$version'" >&2; exit 1 ;;
esac
[ "${1:-}" = "--all" ] || exit 0

# The first 20 bytes of an executable name its platform: ELF e_machine (x86-64 3e, aarch64 b7)
# or Mach-O 64 cputype (x86_64 07000001, arm64 0c000001, little-endian).
header_platform() {
  local head
  head="$(od -An -tx1 -N20 "$1" | tr -d ' \n')"
  case "$head" in
    7f454c46*) case "${head:36:4}" in 3e00) echo linux-amd64 ;; b700) echo linux-arm64 ;; esac ;;
    cffaedfe07000001*) echo darwin-amd64 ;;
    cffaedfe0c000001*) echo darwin-arm64 ;;
  esac
}

dir="$(dirname "$out")"
host="$(header_platform "$out")"
for platform in linux-amd64 linux-arm64 darwin-amd64 darwin-arm64; do
  os="${platform%-*}"
  arch="${platform#*-}"
  bun_arch="$arch"
  [ "$arch" = amd64 ] && bun_arch=x64
  target="$dir/$platform/ferry"
  mkdir -p "$dir/$platform"
  if [ "$platform" = "$host" ]; then
    ln -f "$out" "$target" # the host build is that platform's build: no second compile
  else
    timeout 600 bun build "${BUILD_FLAGS[@]}" --target="bun-$os-$bun_arch" main.ts \
      --outfile "$target" >/dev/null
  fi
  found="$(header_platform "$target")"
  if [ "$found" != "$platform" ]; then
    echo "error: $target is not a $platform executable (header says '${found:-unknown}')" >&2
    exit 1
  fi
  check="header checked"
  if [ "$platform" = linux-amd64 ] && [ "$(uname -m)" = x86_64 ]; then
    check="runs: $(timeout 30 "$target" --version)"
  elif [ "$platform" = linux-arm64 ] && command -v qemu-aarch64-static >/dev/null &&
    [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
    check="runs under qemu: $(QEMU_LD_PREFIX=/usr/aarch64-linux-gnu timeout 120 \
      qemu-aarch64-static "$target" --version)"
  fi
  echo "built $target ($(du -h "$target" | cut -f1), $check)"
done
