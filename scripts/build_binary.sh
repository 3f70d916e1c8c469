#!/usr/bin/env bash
# Builds the single ferry executable at dist/ferry and checks that it runs.
#
#   bash scripts/build_binary.sh            # -> dist/ferry (Bun runtime embedded, ~100 MB)
#   FERRY_OUT=/tmp/ferry bash scripts/build_binary.sh
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
timeout 600 bun build --compile --minify-syntax --splitting --bytecode --format=esm main.ts \
  --outfile "$out"
version="$(timeout 30 "$out" --version)"
case "$version" in
  "ferry "*) echo "built $out: $version ($(du -h "$out" | cut -f1))" ;;
  *) echo "error: $out --version printed '$version'" >&2; exit 1 ;;
esac
