#!/usr/bin/env bash
# Benchmark: ferry proxy replicas on one S3 bucket (the project's Ceph RGW rig) against one
# replica on local disk, pulling the registry rig's ~50 MB image (test/big:latest) with skopeo:
#   1. cold pull through one local replica (empty cache directory),
#   2. cold pull through one of three replicas on a fresh bucket prefix,
#   3. three cold pulls at once, one per replica, vs three at once through the local replica,
# in interleaved rounds (median wall times, ratios to the local replica), then once:
#   4. thirty concurrent cold pulls spread over three fresh S3 replicas, and the bytes the
#      upstream sent for them (from Distribution's access log) as a multiple of the image
#      (goal <= 1.05x: one download per blob across the replicas).
#
#   bash scripts/bench/proxy_s3.sh [ROUNDS]          # default 3 rounds
#   FERRY_BIN=dist/ferry bash scripts/bench/proxy_s3.sh
#
# Everything runs on 127.0.0.1; the rigs and ferry are started here and stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ROUNDS=${1:-3}
RIG=$ROOT/scripts/rig/registry-rig.sh
S3RIG=$ROOT/scripts/rig/s3-rig.sh
for tool in skopeo docker-registry jq curl radosgw; do
  command -v "$tool" >/dev/null || test -x "/usr/sbin/$tool" ||
    { echo "bench: $tool missing: run $RIG install and $S3RIG install" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ferry-bench-proxy-s3.XXXXXX)
BASE=$((27000 + 40 * (RANDOM % 100)))
S3PORT=$((20000 + 30 * (RANDOM % 200)))
PIDS=()
cleanup() {
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  bash "$RIG" stop --state-dir "$WORK/rig" >/dev/null 2>&1 || true
  bash "$S3RIG" stop --state-dir "$WORK/s3" >/dev/null 2>&1 || true
  rm -rf -- "$WORK"
}
trap cleanup EXIT

# shellcheck source=scripts/bench/_common.sh
source scripts/bench/_common.sh
BIN="$(ferry_binary proxy_s3.sh)"

echo "bench: starting the registry rig on ports $BASE.. and Ceph RGW on $S3PORT" >&2
timeout 120 bash "$RIG" start --state-dir "$WORK/rig" --base-port "$BASE" >/dev/null 2>"$WORK/rig-start.log"
timeout 300 bash "$RIG" seed --state-dir "$WORK/rig" >/dev/null 2>"$WORK/rig-seed.log"
timeout 240 bash "$S3RIG" start --state-dir "$WORK/s3" --port "$S3PORT" >/dev/null 2>"$WORK/s3-start.log"
set -a
# shellcheck disable=SC1091 # written by the rig
. "$WORK/s3/s3.env"
set +a
export HOME=$WORK AWS_PROFILE=
UP=127.0.0.1:$BASE
UPLOG="$WORK/rig/logs/upstream.log"
cat > "$WORK/proxy.yaml" <<YAML
registries:
  upstream.test: http://$UP
YAML

# Bytes the upstream sent in answers to GETs so far (Distribution's combined access log).
upstream_bytes() {
  { grep -oE 'GET /v2/[^ ]* HTTP/1\.1\\?" [0-9]{3} [0-9]+' "$UPLOG" 2>/dev/null || true; } |
    awk '{ s += $NF } END { print s + 0 }'
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
N=0
pull() { # pull HOST [REF] (fails the bench on error, with the replicas' last log lines)
  local out="$WORK/out-$((++N))-$RANDOM"
  if ! timeout 300 skopeo copy --quiet --src-tls-verify=false \
    "docker://$1/${2:-upstream.test/test/big:latest}" "dir:$out" >/dev/null; then
    tail -n 20 "$WORK"/ferry-*.log >&2
    return 1
  fi
  rm -rf "$out"
}
# pulls_at_once HOST... -> wall ms for one pull per HOST, all at once
pulls_at_once() {
  local t0 pids=() host
  t0=$(now_ms)
  for host in "$@"; do pull "$host" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid"; done
  echo $(( $(now_ms) - t0 ))
}
PORTS=()
# start_replicas CACHE COUNT: COUNT ferry proxies on CACHE; their host:ports in PORTS. Each
# start takes ports it has not used before (the last replicas may still hold theirs a moment).
NEXT_PORT=$((BASE + 10))
start_replicas() {
  local cache=$1 count=$2 i port
  PORTS=()
  for i in $(seq 1 "$count"); do
    port=$((NEXT_PORT++))
    "$BIN" proxy --listen "127.0.0.1:$port" --config "$WORK/proxy.yaml" \
      --cache-dir "$cache" --access-log off >>"$WORK/ferry-$i.log" 2>&1 &
    PIDS+=($!)
    PORTS+=("127.0.0.1:$port")
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 150); do curl -sf -o /dev/null "http://$port/v2/" && continue 2; sleep 0.1; done
    echo "bench: ferry did not start: $(cat "$WORK"/ferry-*.log)" >&2
    exit 1
  done
}
stop_replicas() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
fresh_s3() { echo "s3://$S3_BUCKET/bench-$RANDOM$RANDOM/"; }

# The image's size as the upstream sends it: one direct pull (also warms skopeo and the disk).
b0=$(upstream_bytes); pull "$UP" test/big:latest
sleep 0.3
image_bytes=$(( $(upstream_bytes) - b0 ))

declare -a local1 s3one local3 s3three
for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$WORK/cache"; start_replicas "$WORK/cache" 1
  local1+=("$(pulls_at_once "${PORTS[0]}")"); stop_replicas
  start_replicas "$(fresh_s3)" 3
  s3one+=("$(pulls_at_once "${PORTS[0]}")"); stop_replicas
  rm -rf "$WORK/cache"; start_replicas "$WORK/cache" 1
  local3+=("$(pulls_at_once "${PORTS[0]}" "${PORTS[0]}" "${PORTS[0]}")"); stop_replicas
  start_replicas "$(fresh_s3)" 3
  s3three+=("$(pulls_at_once "${PORTS[@]}")"); stop_replicas
  echo "bench: round $round: local ${local1[-1]} ms, S3 ${s3one[-1]} ms; 3 at once: local ${local3[-1]} ms, S3 ${s3three[-1]} ms" >&2
done

# Thirty concurrent cold pulls over three fresh replicas: the upstream's bytes.
start_replicas "$(fresh_s3)" 3
b0=$(upstream_bytes)
hosts=()
for i in $(seq 0 29); do hosts+=("${PORTS[$((i % 3))]}"); done
thirty_ms=$(pulls_at_once "${hosts[@]}")
sleep 0.5
thirty_bytes=$(( $(upstream_bytes) - b0 ))
stop_replicas

ml=$(printf '%s\n' "${local1[@]}" | median)
ms=$(printf '%s\n' "${s3one[@]}" | median)
ml3=$(printf '%s\n' "${local3[@]}" | median)
ms3=$(printf '%s\n' "${s3three[@]}" | median)
echo
echo "ferry proxy on S3 (Ceph RGW, memstore, loopback): skopeo copy of test/big:latest, $ROUNDS rounds, median wall time"
echo "ferry: $("$BIN" --version) ($BIN)"
printf '%-52s %8s %12s\n' "cold pull" "ms" "vs local"
printf '%-52s %8s %12s\n' "1 pull, one local replica" "$ml" "1.00x"
printf '%-52s %8s %12s\n' "1 pull, one of three S3 replicas" "$ms" "$(ratio "$ms" "$ml")"
printf '%-52s %8s %12s\n' "3 pulls at once, one local replica" "$ml3" "1.00x"
printf '%-52s %8s %12s\n' "3 pulls at once, one per S3 replica" "$ms3" "$(ratio "$ms3" "$ml3")"
echo "30 concurrent cold pulls over 3 S3 replicas: $thirty_ms ms; upstream sent $thirty_bytes bytes" \
  "for an image of $image_bytes bytes: $(ratio "$thirty_bytes" "$image_bytes") the image (goal <= 1.05x)"
