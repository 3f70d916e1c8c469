#!/usr/bin/env bash
# `npm start`: installs ferry's npm dependencies when they are missing or stale, then serves the
# demo mirror (created on first run) on 127.0.0.1:8080. Extra arguments go to `ferry mirror serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure_deps.sh
exec node_modules/.bin/deno run -A main.ts mirror serve "$@"
