#!/usr/bin/env bash
# Benchmark: `ferry mirror serve s3://…` (the compiled binary) with a warm memory cache against
# the same files served by `ferry mirror serve DIR` from local disk, on loopback, with wrk:
#
#   - requests/s for a 1 KB manifest, S3 / disk     (target: >= 0.9)
#   - CPU time per request of each server
#   - the requests RGW answered while the S3 replica was measured (its revalidation: one HEAD per
#     kept file per --revalidate-interval, whatever the request rate), from RGW's own log
#   - the load average before and after, so that figures from a busy machine can be told apart
#
# Usage: bash scripts/bench/serve_s3.sh          (builds dist/ferry if missing; needs Ceph:
#                                                 sudo bash scripts/rig/s3-rig.sh install)
#   ROUNDS=3 DURATION=5 CONNECTIONS=64 FERRY_BIN=dist/ferry bash scripts/bench/serve_s3.sh
#
# Method as in serve.sh: both servers serve the same bytes, are measured in alternating rounds
# and the medians are reported; each server is pinned to CPU 0 and wrk to CPU 1 when the machine
# has 2+ CPUs. The S3 server is Ceph RADOS Gateway from the project's rig (scripts/rig/s3-rig.sh),
# started here in a private state dir and stopped by its recorded pids. Every process is started
# by this script, stopped by its pid, and bounded in time by a watchdog.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
export PATH="$root/node_modules/.bin:$PATH"
# shellcheck source=scripts/bench/_common.sh
source scripts/bench/_common.sh

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
MAX_SECONDS="${MAX_SECONDS:-900}"
REVALIDATE="${REVALIDATE:-2s}"
pin_cpus
RIG="$root/scripts/rig/s3-rig.sh"

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "serve_s3.sh: needs $tool on PATH" >&2; exit 1; }
done
FERRY_BIN="$(ferry_binary serve_s3.sh)"

work="$(mktemp -d /tmp/ferry-bench-s3.XXXXXX)"
pids=()
rig_started=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  [ -z "$rig_started" ] || bash "$RIG" stop --state-dir "$work/rig" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- the S3 server: the rig on 30 free ports in a row, below the ephemeral range ----------------
rig_port="$(python3 - <<'PY'
import random, socket
for _ in range(50):
    base = 10000 + 30 * random.randrange(700)
    try:
        socks = []
        for p in range(base, base + 30):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        for s in socks: s.close()
        print(base); break
    except OSError:
        for s in socks: s.close()
PY
)"
mkdir -p "$work/rig"
echo "serve_s3.sh: starting Ceph RGW (port $rig_port)" >&2
rig_started=1
bash "$RIG" start --state-dir "$work/rig" --port "$rig_port" >/dev/null
set -a
# shellcheck disable=SC1091
. "$work/rig/s3.env"
set +a
export HOME="$work" # no ~/.aws of the user: only the rig's settings
unset AWS_PROFILE

# --- the served files: on disk, and the same bytes under a prefix of the bucket ------------------
data="$work/data"
mkdir -p "$data"
python3 - "$data/1.index.json" <<'PY'
import json, sys
body = {"signed": {"_type": "index", "components": {f"c{i}": {"url": f"/c{i}.json", "yanked": False} for i in range(16)}}}
text = json.dumps(body)
text = (text + " " * 1024)[:1024]
open(sys.argv[1], "w").write(text)
PY
echo '{"signed":{"_type":"root"}}' >"$data/root.json" # `serve s3://` checks the prefix holds one
SMALL=/1.index.json
prefix="bench"
for file in 1.index.json root.json; do
  # RGW wants the payload hash header, which curl then signs too.
  curl -sSf --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$data/$file" \
    "$AWS_ENDPOINT_URL/$S3_BUCKET/$prefix/$file" >/dev/null
done

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_ready() { # url
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "serve_s3.sh: $1 never answered" >&2
  return 1
}
wrk_run() { # url
  timeout $((DURATION + 30)) "${CLIENT_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" \
    -d"${DURATION}s" --latency "$1" 2>&1
}
rps_of() { awk '/^Requests\/sec:/ {print $2}' <<<"$1"; }
requests_of() { awk '/requests in/ {print $1}' <<<"$1"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
CLK_TCK="$(getconf CLK_TCK)"

declare -A URL WORKER RPS_ALL CPU_ALL RPS CPU_US
disk_port="$(free_port)"
start_server "$work/disk.log" "$FERRY_BIN" mirror serve "$data" --listen "127.0.0.1:$disk_port"
WORKER[disk]="$started_pid"
URL[disk]="http://127.0.0.1:$disk_port"
s3_port="$(free_port)"
start_server "$work/s3.log" "$FERRY_BIN" mirror serve "s3://$S3_BUCKET/$prefix" \
  --listen "127.0.0.1:$s3_port" --revalidate-interval "$REVALIDATE"
WORKER[s3]="$started_pid"
URL[s3]="http://127.0.0.1:$s3_port"
for name in disk s3; do
  wait_ready "${URL[$name]}$SMALL" || { cat "$work/$name.log" >&2; exit 1; }
  # The same bytes from both, and the memory cache warm.
  curl -sf "${URL[$name]}$SMALL" | cmp - "$data/1.index.json"
done

rgw_requests() { # requests RGW logged so far (its log has one "req done" line per request)
  cat "$work/rig/cluster/log/"*rgw* 2>/dev/null | grep -c "req done" || true
}

measure() { # name
  local name="$1" out before after us
  before="$(cpu_ticks "${WORKER[$name]}")"
  out="$(wrk_run "${URL[$name]}$SMALL")"
  after="$(cpu_ticks "${WORKER[$name]}")"
  us="$(python3 -c "r = int('$(requests_of "$out")' or 0); print(f'{($after - $before) * 1e6 / $CLK_TCK / r:.1f}' if r else 0)")"
  RPS_ALL[$name]+=" $(rps_of "$out")"
  CPU_ALL[$name]+=" $us"
  echo "    $name 1KB: $(rps_of "$out") req/s ($(requests_of "$out") requests), $us CPU-us/req  $(grep -E '^\s+99%' <<<"$out" | xargs echo p99) $(errors_of "$out")"
}

echo "ferry:  $FERRY_BIN ($("$FERRY_BIN" --version))"
echo "s3:     Ceph RGW $(radosgw --version 2>/dev/null | awk '{print $3}' || true) on loopback (memstore), --revalidate-interval $REVALIDATE"
echo "wrk:    -t$THREADS -c$CONNECTIONS, $(nproc) CPUs, server pinning: ${SERVER_CPU[*]:-none}"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load:   $load_before (1, 5, 15 min)"
echo "--- 1 KB manifest: $CONNECTIONS connections, ${DURATION}s each"
ratios=""
s3_requests=0
s3_seconds=0
for round in $(seq 1 "$ROUNDS"); do
  echo "  round $round/$ROUNDS"
  measure disk
  rgw_before="$(rgw_requests)"
  measure s3
  rgw_after="$(rgw_requests)"
  s3_requests=$((s3_requests + rgw_after - rgw_before))
  s3_seconds=$((s3_seconds + DURATION))
  last() { awk '{print $NF}' <<<"$1"; }
  ratios+=" $(python3 -c "print(f'{float($(last "${RPS_ALL[s3]}")) / float($(last "${RPS_ALL[disk]}")):.3f}')")"
done
for name in disk s3; do
  RPS[$name]="$(median <<<"${RPS_ALL[$name]}")"
  CPU_US[$name]="$(median <<<"${CPU_ALL[$name]}")"
done
ratio="$(median <<<"$ratios")"
check() { python3 -c "import sys; sys.exit(0 if float('$1' or 0) $2 else 1)" && echo PASS || echo MISS; }

echo
echo "=== results: median of $ROUNDS rounds (loopback, $(nproc) CPUs, server pinning: ${SERVER_CPU[*]:-none}, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s)"
echo "load average: $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
printf '%-6s %14s %16s\n' server "1KB req/s" "1KB CPU-us/req"
for name in disk s3; do printf '%-6s %14s %16s\n' "$name" "${RPS[$name]}" "${CPU_US[$name]}"; done
echo "s3/disk small-file req/s (median of per-round ratios:$ratios): $ratio  (target >= 0.9: $(check "$ratio" '>= 0.9'))"
echo "requests RGW answered while the S3 replica was measured: $s3_requests in ${s3_seconds}s (revalidation only)"
if [ -n "${BENCH_JSON:-}" ]; then # the figures for scripts/bench/all.sh; lists are in round order
  python3 - "$BENCH_JSON" "${RPS_ALL[disk]}" "${RPS_ALL[s3]}" "${CPU_ALL[disk]}" "${CPU_ALL[s3]}" \
    "$s3_requests" "$s3_seconds" <<'PY'
import json, sys
out, rd, rs, cd, cs, n, secs = sys.argv[1:]
f = lambda l: [float(v) for v in l.split()]
json.dump({"rps_disk": f(rd), "rps_s3": f(rs), "cpu_us_disk": f(cd), "cpu_us_s3": f(cs),
           "rgw_requests": int(n), "rgw_seconds": int(secs)}, open(out, "w"))
PY
fi
