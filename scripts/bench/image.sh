#!/usr/bin/env bash
# Benchmark: `ferry image save` and `ferry mirror serve` of an image bundle next to skopeo and
# CNCF Distribution, on the project's registry rig (loopback), same images for both:
#
#   - save: ferry image save of the rig's images into a fresh bundle (keys already made, as a
#     second save would be) vs skopeo copy --all of the same images into an OCI layout
#   - size: bytes of blobs/ in each layout, and of the whole bundle
#   - serve: skopeo copy of the big image (RIG_BIG_MB, default 50) from ferry mirror serve DIR
#     vs from the rig's Distribution, into a fresh dir
#
# Usage: bash scripts/bench/image.sh      ROUNDS=3 FERRY="bun main.ts" bash scripts/bench/image.sh
# Every process is started here, stopped by its pid; everything lives in one temp dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
export PATH="$root/node_modules/.bin:$PATH"
ROUNDS="${ROUNDS:-3}"
read -r -a ferry <<<"${FERRY:-bun $root/main.ts}"
work="$(mktemp -d /tmp/ferry-bench-image-XXXXXX)"
base=$((36000 + 10 * (RANDOM % 200)))
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  bash scripts/rig/registry-rig.sh stop --state-dir "$work/rig" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/rig/registry-rig.sh start --state-dir "$work/rig" --base-port "$base" >/dev/null
bash scripts/rig/registry-rig.sh seed --state-dir "$work/rig" >/dev/null
up="127.0.0.1:$base"
refs=(test/big:latest test/multi:latest test/multi:docker test/hello:v1)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f\n", e - s }'; }

"${ferry[@]}" mirror init "$work/keys-made" >/dev/null 2>&1
ferry_save=() skopeo_save=()
for _ in $(seq "$ROUNDS"); do
  rm -rf "$work/bundle" "$work/oci" && cp -r "$work/keys-made" "$work/bundle"
  ferry_save+=("$(seconds "${ferry[@]}" image save --registry "upstream.test=http://$up" \
    "${refs[@]/#/upstream.test/}" -o "$work/bundle")")
  skopeo_save+=("$(seconds sh -c "for r in ${refs[*]}; do skopeo copy --all --quiet \
    --src-tls-verify=false docker://$up/\$r oci:$work/oci:\$r || exit 1; done")")
done
echo "save (median of $ROUNDS): ferry $(printf '%s\n' "${ferry_save[@]}" | median) s," \
  "skopeo $(printf '%s\n' "${skopeo_save[@]}" | median) s"
echo "size: ferry blobs $(du -sb "$work/bundle/blobs" | cut -f1) B (whole bundle" \
  "$(du -sb --exclude=keys "$work/bundle" | cut -f1) B), skopeo blobs $(du -sb "$work/oci/blobs" | cut -f1) B"

port=$((base + 9))
"${ferry[@]}" mirror serve "$work/bundle" --listen "127.0.0.1:$port" --access-log off >/dev/null 2>&1 &
serve_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
ferry_serve=() dist_serve=()
for _ in $(seq "$ROUNDS"); do
  rm -rf "$work/p1" "$work/p2"
  ferry_serve+=("$(seconds skopeo copy --quiet --src-tls-verify=false \
    "docker://127.0.0.1:$port/upstream.test/test/big:latest" "dir:$work/p1")")
  dist_serve+=("$(seconds skopeo copy --quiet --src-tls-verify=false \
    "docker://$up/test/big:latest" "dir:$work/p2")")
done
mb=$(du -sb "$work/p1" | cut -f1)
echo "serve the big image (${mb} B, median of $ROUNDS): ferry $(printf '%s\n' "${ferry_serve[@]}" | median) s," \
  "Distribution $(printf '%s\n' "${dist_serve[@]}" | median) s"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
