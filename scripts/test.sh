#!/usr/bin/env bash
# The test command (`npm test` runs this). Makes sure the toolchain is in place, then runs every
# check and test suite through scripts/test.ts, whose last line is `tests: N passed, M failed`.
#
#   bash scripts/test.sh                   # everything: fmt, lint, imports, check, unit, e2e
#   bash scripts/test.sh tests/storage     # only some test paths (fmt/lint/check still run)
#   FERRY_BIN=dist/ferry bash scripts/test.sh   # also the e2e suite against a compiled binary
#
# As root it installs the system tools the e2e tests drive when they are missing (CI machines
# start fresh); otherwise it only reports them.
set -euo pipefail
cd "$(dirname "$0")/.."

# tool on PATH -> Debian package that provides it
declare -A PACKAGES=(
  [curl]=curl [openssl]=openssl [docker-registry]=docker-registry [skopeo]=skopeo
  [htpasswd]=apache2-utils [jq]=jq [gcc]=gcc [nginx]=nginx-light [wrk]=wrk [setsid]=util-linux
  [flock]=util-linux [ctr]=containerd [inotifywait]=inotify-tools [chromium]=chromium
  [qemu-aarch64-static]=qemu-user-static [podman]=podman
  # the S3 rig (scripts/rig/s3-rig.sh): Ceph RADOS Gateway on a one-node cluster
  [ceph]=ceph-common [ceph-mon]=ceph-mon [ceph-osd]=ceph-osd [radosgw]=radosgw
)
# CI_SKIP_INSTALL=1: install nothing (a machine already set up, shared with running processes).
skip_install="${CI_SKIP_INSTALL:-0}"
missing=()
for tool in "${!PACKAGES[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${PACKAGES[$tool]}")
done
# The linux/arm64 ferry that the qemu e2e test runs is dynamically linked: it needs arm64's libc.
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$skip_install" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 1200 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test.sh: warning: missing tools (e2e tests need them): ${missing[*]}" >&2
  fi
fi

# The locked npm dependencies (Deno and Bun included), when missing or stale.
[ "$skip_install" = 1 ] || timeout 1200 bash scripts/ensure_deps.sh

export PATH="$PWD/node_modules/.bin:$PATH"
# scripts/test.ts bounds every step itself (FERRY_TEST_STEP_TIMEOUT_MS, default 25 min) and
# stops each step's whole process tree on timeout.
exec deno run -A scripts/test.ts "$@"
