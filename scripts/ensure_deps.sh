#!/usr/bin/env bash
# Runs `npm ci` when node_modules is missing or older than package-lock.json, so the README's
# two commands work on a fresh machine that has only Node and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.ferry-deps-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ]; then
  echo "Installing npm dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi
