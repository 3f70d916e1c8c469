#!/usr/bin/env bash
# Benchmark: pull the rig's ~50 MB image (test/big:latest) with skopeo
#   1. directly from the upstream (CNCF Distribution),
#   2. through ferry proxy, cold (empty cache),
#   3. through ferry proxy, warm,
#   4. through the rig's Distribution pull-through cache (cold once, then warm),
# and print median wall times, ratios to direct, upstream request counts per pull and ferry's
# peak RSS. Targets: warm <= 1.0x direct, cold <= 1.2x direct, never slower than Distribution,
# RSS flat (independent of the blob size).
#
#   bash scripts/bench/proxy.sh [ROUNDS]         # default 5 rounds
#   FERRY_BIN=dist/ferry bash scripts/bench/proxy.sh   # use a built binary (else one is built)
#
# Everything runs on 127.0.0.1; the rig and ferry are started here and stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ROUNDS=${1:-5}
RIG=$ROOT/scripts/rig/registry-rig.sh
for tool in skopeo docker-registry jq curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing: run $RIG install" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ferry-bench-proxy.XXXXXX)
BASE=$((27000 + 10 * (RANDOM % 200)))
FERRY_PID=""
cleanup() {
  [ -n "$FERRY_PID" ] && kill "$FERRY_PID" 2>/dev/null && wait "$FERRY_PID" 2>/dev/null || true
  bash "$RIG" stop --state-dir "$WORK/rig" >/dev/null 2>&1 || true
  rm -rf -- "$WORK"
}
trap cleanup EXIT

# shellcheck source=scripts/bench/_common.sh
source scripts/bench/_common.sh
BIN="$(ferry_binary proxy.sh)"

echo "bench: starting the registry rig on ports $BASE.. ($WORK/rig)" >&2
timeout 120 bash "$RIG" start --state-dir "$WORK/rig" --base-port "$BASE" >/dev/null 2>"$WORK/rig-start.log"
timeout 300 bash "$RIG" seed --state-dir "$WORK/rig" >/dev/null 2>"$WORK/rig-seed.log"
UP=127.0.0.1:$BASE
MIRROR=127.0.0.1:$((BASE + 4))
UPLOG="$WORK/rig/logs/upstream.log"
PROXY_PORT=$((BASE + 9))
cat > "$WORK/proxy.yaml" <<YAML
registries:
  upstream.test: http://$UP
YAML

upstream_lines() { grep -c '"[A-Z]* /v2/' "$UPLOG" 2>/dev/null || echo 0; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# pull SRC -> prints "ms upstream_requests"
pull() {
  local src=$1 out="$WORK/out" before t0 t1
  rm -rf "$out"
  before=$(upstream_lines)
  t0=$(now_ms)
  timeout 300 skopeo copy --quiet --src-tls-verify=false "docker://$src" "dir:$out" >/dev/null
  t1=$(now_ms)
  sleep 0.3 # let the access log flush
  echo "$((t1 - t0)) $(( $(upstream_lines) - before ))"
}
start_ferry() {
  rm -rf "$WORK/cache"
  "$BIN" proxy --listen "127.0.0.1:$PROXY_PORT" --config "$WORK/proxy.yaml" \
    --cache-dir "$WORK/cache" --access-log off >"$WORK/ferry.log" 2>&1 &
  FERRY_PID=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$PROXY_PORT/v2/" && return 0
    sleep 0.1
  done
  echo "bench: ferry did not start: $(cat "$WORK/ferry.log")" >&2
  exit 1
}
stop_ferry() { kill "$FERRY_PID"; wait "$FERRY_PID" 2>/dev/null || true; FERRY_PID=""; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$FERRY_PID/status"; }
# ferry's CPU time (user + sys) in ms: steadier than wall time on a loaded machine.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$FERRY_PID/stat"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$FERRY_PID/status"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }

# warm up skopeo and the page cache once (not measured)
pull "$UP/test/big:latest" >/dev/null

declare -a direct cold warm warm2 dist_warm cold_cpu warm_cpu direct_req
cold_req="" warm_req="" dist_cold="" dist_cold_req="" dist_warm_req="" hwm_first="" rss_idle=""
read -r dist_cold dist_cold_req < <(pull "$MIRROR/test/big:latest")
for round in $(seq 1 "$ROUNDS"); do
  read -r ms req < <(pull "$UP/test/big:latest"); direct+=("$ms"); direct_req+=("$req")
  start_ferry
  [ -z "$rss_idle" ] && rss_idle=$(rss_kb)
  c0=$(cpu_ms)
  read -r ms req < <(pull "127.0.0.1:$PROXY_PORT/upstream.test/test/big:latest"); cold+=("$ms"); cold_req=$req
  c1=$(cpu_ms); cold_cpu+=($((c1 - c0)))
  read -r ms req < <(pull "127.0.0.1:$PROXY_PORT/upstream.test/test/big:latest"); warm+=("$ms"); warm_req=$req
  c2=$(cpu_ms); warm_cpu+=($((c2 - c1)))
  read -r ms req < <(pull "127.0.0.1:$PROXY_PORT/upstream.test/test/big:latest"); warm2+=("$ms")
  [ -z "$hwm_first" ] && hwm_first=$(hwm_kb)
  hwm_last=$(hwm_kb)
  stop_ferry
  read -r ms req < <(pull "$MIRROR/test/big:latest"); dist_warm+=("$ms"); dist_warm_req=$req
  echo "bench: round $round: direct ${direct[-1]} ms, ferry cold ${cold[-1]} ms, warm ${warm[-1]} ms, distribution warm ${dist_warm[-1]} ms" >&2
done

# ferry: many pulls in one process, to show RSS does not grow with bytes served
start_ferry
for _ in $(seq 1 5); do pull "127.0.0.1:$PROXY_PORT/upstream.test/test/big:latest" >/dev/null; done
hwm_many=$(hwm_kb)
stop_ferry

md=$(printf '%s\n' "${direct[@]}" | median)
mc=$(printf '%s\n' "${cold[@]}" | median)
mw=$(printf '%s\n' "${warm[@]}" | median)
mdw=$(printf '%s\n' "${dist_warm[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
big=$(jq -r .bigLayer.size "$WORK/rig/seed.json")
echo
echo "ferry proxy benchmark: skopeo copy of test/big:latest ($((big / 1048576)) MiB layer), $ROUNDS rounds, median wall time"
echo "ferry: $("$BIN" --version) ($BIN)"
printf '%-34s %8s %10s %18s\n' "path" "ms" "vs direct" "upstream requests"
printf '%-34s %8s %10s %18s\n' "direct from upstream" "$md" "1.00x" "-"
printf '%-34s %8s %10s %18s\n' "ferry cold (empty cache)" "$mc" "$(ratio "$mc" "$md")" "$cold_req"
printf '%-34s %8s %10s %18s\n' "ferry warm" "$mw" "$(ratio "$mw" "$md")" "$warm_req"
printf '%-34s %8s %10s %18s\n' "distribution cache cold (1 run)" "$dist_cold" "$(ratio "$dist_cold" "$md")" "$dist_cold_req"
printf '%-34s %8s %10s %18s\n' "distribution cache warm" "$mdw" "$(ratio "$mdw" "$md")" "$dist_warm_req"
echo "ferry cold vs distribution cold: $(ratio "$mc" "$dist_cold"); ferry warm vs distribution warm: $(ratio "$mw" "$mdw")"
echo "ferry CPU per pull (user+sys): cold $(printf '%s\n' "${cold_cpu[@]}" | median) ms, warm $(printf '%s\n' "${warm_cpu[@]}" | median) ms; skopeo makes ${direct_req[0]} requests per pull"
echo "ferry RSS: idle $((rss_idle / 1024)) MiB; peak after 1 cold + 2 warm pulls $((hwm_first / 1024)) MiB (last round $((hwm_last / 1024)) MiB); peak after 1 cold + 5 warm pulls $((hwm_many / 1024)) MiB"
if [ -n "${BENCH_JSON:-}" ]; then # the figures for scripts/bench/all.sh; lists are in round order
  python3 - "$BENCH_JSON" "${direct[*]}" "${cold[*]}" "${warm[*]}" "${warm2[*]}" "${dist_warm[*]}" \
    "${cold_cpu[*]}" "${warm_cpu[*]}" "${direct_req[*]}" "$dist_cold" "$hwm_first" "$hwm_many" <<'PY'
import json, sys
out, *lists, dist_cold, hwm_first, hwm_many = sys.argv[1:]
keys = ["direct_ms", "cold_ms", "warm_ms", "warm2_ms", "dist_warm_ms", "cold_cpu_ms", "warm_cpu_ms",
        "requests_per_pull"]
data = {k: [float(v) for v in l.split()] for k, l in zip(keys, lists)}
data.update(dist_cold_ms=float(dist_cold), rss_mb=int(hwm_first) / 1024, rss_mb_many=int(hwm_many) / 1024)
json.dump(data, open(out, "w"))
PY
fi
