#!/usr/bin/env bash
# `npm start`: installs ferry's npm dependencies when they are missing or stale, then serves the
# demo mirror (created on first run) on 127.0.0.1:8080. Extra arguments go to `ferry mirror serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
# CI_SKIP_INSTALL=1 (as for test.sh): use node_modules as it is. The e2e test that runs this
# script sets it, so a test never reinstalls the dependencies under the suite that is running.
[ "${CI_SKIP_INSTALL:-0}" = 1 ] || bash scripts/ensure_deps.sh
# ferry is not on the PATH of a checkout: the hints it prints should say scripts/ferry.
export FERRY_HINT_COMMAND="${FERRY_HINT_COMMAND:-scripts/ferry}"
exec node_modules/.bin/deno run -A main.ts mirror serve "$@"
