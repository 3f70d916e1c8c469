#!/usr/bin/env bash
# Benchmark: `ferry mirror serve` (the compiled binary) against nginx and python3 -m http.server,
# serving the same directory on loopback, measured in one run with wrk:
#
#   - requests/s for a 1 KB manifest          (target: ferry >= 1.2 x nginx)
#   - MiB/s for a 100 MB tarball              (target: ferry >= 1.0 x nginx)
#   - CPU time per request (1 KB) and per MiB (100 MB) of each server: it does not depend on what
#     else the machine runs, so it is the steadier comparison on a loaded machine
#   - peak RSS (VmHWM) of ferry and nginx after the wrk runs, and ferry's RSS while 16 clients
#     download a 1 GB file at once (target: < 150 MB)
#   - the load average before and after, so that figures from a busy machine can be told apart
#
# Usage: bash scripts/bench/serve.sh            (builds dist/ferry if missing)
#   ROUNDS=3 DURATION=5 CONNECTIONS=64 FERRY_BIN=dist/ferry bash scripts/bench/serve.sh
#   FERRY_BASELINE=/tmp/ferry-old bash scripts/bench/serve.sh   # also measure an older build
#
# Method: all servers serve the same directory; ferry and nginx are measured in alternating
# rounds and the median is reported, so that load from other processes hits both alike. On a
# machine with 2+ CPUs each server is pinned to CPU 0 and wrk (one thread) to CPU 1: a one-core
# server against a one-core server. Both keep their default access log (ferry to stdout, nginx to
# a file). Every process is started by this script, stopped by its pid, and bounded in time by a
# watchdog.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
export PATH="$root/node_modules/.bin:$PATH"
# shellcheck source=scripts/bench/_common.sh
source scripts/bench/_common.sh

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
LARGE_CONNECTIONS="${LARGE_CONNECTIONS:-4}"
MAX_SECONDS="${MAX_SECONDS:-1800}"
pin_cpus

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "serve.sh: needs $tool on PATH" >&2; exit 1; }
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$NGINX" ] || { echo "serve.sh: needs nginx (apt-get install nginx-light)" >&2; exit 1; }
FERRY_BIN="$(ferry_binary serve.sh)"

work="$(mktemp -d /tmp/ferry-bench.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# --- the served directory ---------------------------------------------------------------------
data="$work/data"
mkdir -p "$data"
python3 - "$data/1.index.json" <<'PY'
import json, sys
body = {"signed": {"_type": "index", "components": {f"c{i}": {"url": f"/c{i}.json", "yanked": False} for i in range(16)}}}
text = json.dumps(body)
text = (text + " " * 1024)[:1024]
open(sys.argv[1], "w").write(text)
PY
head -c $((100 * 1024 * 1024)) /dev/urandom >"$data/tidb-v7.5.0-linux-amd64.tar.gz"
truncate -s 1G "$data/big-v1.0.0-linux-amd64.tar.gz" # sparse: the page cache serves it
chmod 755 "$work" "$data"
chmod 644 "$data"/*
SMALL=/1.index.json
LARGE=/tidb-v7.5.0-linux-amd64.tar.gz
HUGE=/big-v1.0.0-linux-amd64.tar.gz

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_ready() { # url
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "serve.sh: $1 never answered" >&2
  return 1
}

# wrk output -> requests/s and MiB/s
wrk_run() { # url connections
  timeout $((DURATION + 30)) "${CLIENT_CPU[@]}" wrk -t"$THREADS" -c"$2" -d"${DURATION}s" \
    --latency "$1" 2>&1
}
rps_of() { awk '/^Requests\/sec:/ {print $2}' <<<"$1"; }
mibps_of() {
  awk '/^Transfer\/sec:/ {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v)
    f = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1/1024 : 1/1048576
    printf "%.1f", v * f }' <<<"$1"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }

# CPU time (user + system, in clock ticks) a process has used; it does not depend on what else
# the machine is doing, so CPU per request is a steadier comparison than requests/s.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
requests_of() { awk '/requests in/ {print $1}' <<<"$1"; }
CLK_TCK="$(getconf CLK_TCK)"

declare -A URL WORKER RPS_ALL MIBPS_ALL CPU_ALL CPU_MIB_ALL RPS MIBPS CPU_US CPU_MIB
measure() { # name
  local name="$1" out before after us mibps
  before="$(cpu_ticks "${WORKER[$name]}")"
  out="$(wrk_run "${URL[$name]}$SMALL" "$CONNECTIONS")"
  after="$(cpu_ticks "${WORKER[$name]}")"
  us="$(python3 -c "r = int('$(requests_of "$out")' or 0); print(f'{($after - $before) * 1e6 / $CLK_TCK / r:.1f}' if r else 0)")"
  RPS_ALL[$name]+=" $(rps_of "$out")"
  CPU_ALL[$name]+=" $us"
  echo "    $name 1KB:   $(rps_of "$out") req/s, $us CPU-us/req  $(grep -E '^\s+99%' <<<"$out" | xargs echo p99) $(errors_of "$out")"
  before="$(cpu_ticks "${WORKER[$name]}")"
  out="$(wrk_run "${URL[$name]}$LARGE" "$LARGE_CONNECTIONS")"
  after="$(cpu_ticks "${WORKER[$name]}")"
  mibps="$(mibps_of "$out")"
  us="$(python3 -c "m = float('$mibps' or 0) * $DURATION; print(f'{($after - $before) * 1e6 / $CLK_TCK / m:.0f}' if m else 0)")"
  MIBPS_ALL[$name]+=" $mibps"
  CPU_MIB_ALL[$name]+=" $us"
  echo "    $name 100MB: $mibps MiB/s, $us CPU-us/MiB  $(errors_of "$out")"
}

echo "ferry:  $FERRY_BIN ($("$FERRY_BIN" --version))"
echo "nginx:  $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
echo "python: $(python3 --version)"
echo "wrk:    -t$THREADS, $(nproc) CPUs, server pinning: ${SERVER_CPU[*]:-none}; files in $data"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load:   $load_before (1, 5, 15 min)"

# --- servers ----------------------------------------------------------------------------------
ferry_port="$(free_port)"
start_server "$work/ferry.log" "$FERRY_BIN" mirror serve "$data" --listen "127.0.0.1:$ferry_port"
ferry_pid="$started_pid"
URL[ferry]="http://127.0.0.1:$ferry_port"

servers=(ferry nginx)
if [ -n "${FERRY_BASELINE:-}" ]; then
  baseline_port="$(free_port)"
  start_server "$work/baseline.log" "$FERRY_BASELINE" mirror serve "$data" \
    --listen "127.0.0.1:$baseline_port"
  URL[baseline]="http://127.0.0.1:$baseline_port"
  WORKER[baseline]="$started_pid"
  servers+=(baseline)
fi

nginx_port="$(free_port)"
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$work/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  access_log $work/nginx/logs/access.log;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  types { application/json json; application/gzip gz; }
  server {
    listen 127.0.0.1:$nginx_port;
    root $data;
  }
}
CONF
start_server "$work/nginx.err" "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf"
nginx_pid="$started_pid"
URL[nginx]="http://127.0.0.1:$nginx_port"

python_port="$(free_port)"
start_server "$work/python.log" python3 -m http.server "$python_port" --bind 127.0.0.1 \
  --directory "$data"
URL[python]="http://127.0.0.1:$python_port"
WORKER[ferry]="$ferry_pid"
WORKER[python]="$started_pid"

for name in "${servers[@]}" python; do
  wait_ready "${URL[$name]}$SMALL"
  curl -s -o /dev/null "${URL[$name]}$LARGE" # warm the page cache and any server cache
done
# nginx serves from its worker process (the master only supervises).
WORKER[nginx]="$(tr ' ' '\n' <"/proc/$nginx_pid/task/$nginx_pid/children" | grep -m1 . || echo "$nginx_pid")"

# --- throughput: ferry and nginx alternate, python once -----------------------------------------
echo "--- 1 KB manifest: $CONNECTIONS connections; 100 MB tarball: $LARGE_CONNECTIONS connections; ${DURATION}s each"
for round in $(seq 1 "$ROUNDS"); do
  echo "  round $round/$ROUNDS"
  for name in "${servers[@]}"; do measure "$name"; done
done
measure python
for name in "${servers[@]}" python; do
  RPS[$name]="$(median <<<"${RPS_ALL[$name]}")"
  MIBPS[$name]="$(median <<<"${MIBPS_ALL[$name]}")"
  CPU_US[$name]="$(median <<<"${CPU_ALL[$name]}")"
  CPU_MIB[$name]="$(median <<<"${CPU_MIB_ALL[$name]}")"
done
ferry_hwm_after_wrk="$(hwm_kb "$ferry_pid")"
nginx_hwm_after_wrk="$(hwm_kb "${WORKER[nginx]}")"

# --- memory: 16 clients pull the 1 GB file from ferry at once --------------------------------
echo "--- ferry: 16 concurrent downloads of the 1 GB file"
max_rss=0
curl_pids=()
for _ in $(seq 1 16); do
  timeout 300 "${CLIENT_CPU[@]}" curl -s -o /dev/null "${URL[ferry]}$HUGE" &
  curl_pids+=($!)
done
started=$(date +%s.%N)
while :; do
  running=0
  for pid in "${curl_pids[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
  rss="$(rss_kb "$ferry_pid")"
  [ "$rss" -gt "$max_rss" ] && max_rss="$rss"
  [ "$running" = 1 ] || break
  sleep 0.1
done
failed_downloads=0
for pid in "${curl_pids[@]}"; do wait "$pid" || failed_downloads=$((failed_downloads + 1)); done
elapsed="$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")"
ferry_hwm="$(hwm_kb "$ferry_pid")"
echo "    16 GiB in ${elapsed}s ($failed_downloads failed); ferry RSS max while downloading: $((max_rss / 1024)) MiB"
echo "    access log lines written by ferry: $(grep -c '" 200 ' "$work/ferry.log" || true)"

# --- results ----------------------------------------------------------------------------------
ratio() { python3 -c "a, b = float('$1' or 0), float('$2' or 0); print(f'{a / b:.2f}' if b else 'n/a')"; }
check() { python3 -c "import sys; sys.exit(0 if float('$1' or 0) $2 else 1)" && echo PASS || echo MISS; }
small_ratio="$(ratio "${RPS[ferry]}" "${RPS[nginx]}")"
large_ratio="$(ratio "${MIBPS[ferry]}" "${MIBPS[nginx]}")"
echo
echo "=== results: median of $ROUNDS rounds (loopback, $(nproc) CPUs, server pinning: ${SERVER_CPU[*]:-none}, wrk -t$THREADS -d${DURATION}s)"
echo "load average: $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
printf '%-8s %14s %16s %14s %18s\n' server "1KB req/s" "1KB CPU-us/req" "100MB MiB/s" "100MB CPU-us/MiB"
for name in "${servers[@]}" python; do
  printf '%-8s %14s %16s %14s %18s\n' "$name" "${RPS[$name]}" "${CPU_US[$name]}" \
    "${MIBPS[$name]}" "${CPU_MIB[$name]}"
done
echo "ferry/nginx small-file req/s:  $small_ratio  (target >= 1.2: $(check "$small_ratio" '>= 1.2'))"
echo "nginx/ferry small-file CPU per request: $(ratio "${CPU_US[nginx]}" "${CPU_US[ferry]}")  (>= 1.0 means ferry needs no more CPU per request than nginx)"
echo "ferry/nginx large-file MiB/s:  $large_ratio  (target >= 1.0: $(check "$large_ratio" '>= 1.0'))"
echo "nginx/ferry large-file CPU per MiB: $(ratio "${CPU_MIB[nginx]}" "${CPU_MIB[ferry]}")"
echo "ferry/python small-file req/s: $(ratio "${RPS[ferry]}" "${RPS[python]}")"
if [ -n "${FERRY_BASELINE:-}" ]; then
  echo "ferry/baseline small-file req/s: $(ratio "${RPS[ferry]}" "${RPS[baseline]}"), CPU per request baseline/ferry: $(ratio "${CPU_US[baseline]}" "${CPU_US[ferry]}")"
fi
echo "peak RSS after the wrk runs: ferry $((ferry_hwm_after_wrk / 1024)) MiB, nginx worker $((nginx_hwm_after_wrk / 1024)) MiB"
echo "ferry RSS, 16 x 1 GB downloads: max $((max_rss / 1024)) MiB, peak (VmHWM) $((ferry_hwm / 1024)) MiB  (target < 150: $(check "$((ferry_hwm / 1024))" '< 150'))"
if [ -n "${BENCH_JSON:-}" ]; then # the figures for scripts/bench/all.sh; lists are in round order
  python3 - "$BENCH_JSON" "${RPS_ALL[ferry]}" "${RPS_ALL[nginx]}" "${MIBPS_ALL[ferry]}" \
    "${MIBPS_ALL[nginx]}" "${CPU_ALL[ferry]}" "${CPU_ALL[nginx]}" "${CPU_MIB_ALL[ferry]}" \
    "${CPU_MIB_ALL[nginx]}" "$ferry_hwm_after_wrk" "$nginx_hwm_after_wrk" "$ferry_hwm" <<'PY'
import json, sys
out, *lists, fh, nh, fh16 = sys.argv[1:]
keys = ["rps_ferry", "rps_nginx", "mibps_ferry", "mibps_nginx", "cpu_us_ferry", "cpu_us_nginx",
        "cpu_us_mib_ferry", "cpu_us_mib_nginx"]
data = {k: [float(v) for v in l.split()] for k, l in zip(keys, lists)}
data.update(rss_mb_ferry=int(fh) / 1024, rss_mb_nginx=int(nh) / 1024, rss_mb_ferry_16x1gb=int(fh16) / 1024)
json.dump(data, open(out, "w"))
PY
fi
