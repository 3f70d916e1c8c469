#!/usr/bin/env bash
# Installs the locked npm dependencies when node_modules is missing or older than
# package-lock.json, so the README's two commands work on a fresh machine with only Node and npm.
# `npm install` rather than `npm ci`: npm 11 records only this platform's optional binaries of
# deno/bun in the lockfile, and `npm ci` then refuses the lockfile as out of sync. The lockfile
# still pins every version.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.ferry-deps-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ]; then
  echo "Installing npm dependencies…" >&2
  npm install --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi
