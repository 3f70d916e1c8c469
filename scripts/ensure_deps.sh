#!/usr/bin/env bash
# Installs the locked npm dependencies (`npm ci`: exactly the lockfile's versions and integrity
# hashes) when node_modules is missing or older than package-lock.json, so the README's two
# commands work on a fresh machine with only Node and npm. The lockfile records every platform's
# optional Deno and Bun binaries, so `npm ci` accepts it on any of them.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.ferry-deps-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ]; then
  echo "Installing the locked npm dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi
