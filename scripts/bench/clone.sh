#!/usr/bin/env bash
# Benchmark: `ferry mirror clone --full` of a ~2 GB mirror (4 × 400 MB + 996 small tarballs, 1000
# files) served by `ferry mirror serve` over loopback, against, in the same run and interleaved
# over ROUNDS rounds:
#   - `cp -r && sync` of the same directory (the durable floor: the clone fsyncs what it writes),
#   - 8 keep-alive curl processes fetching the same tarballs, then `sha256sum -c` (download, then
#     hash: a clone that overlaps the two must beat it),
#   - TiUP's own `tiup mirror clone --full --jobs 8` of the same served mirror, when TIUP_BIN
#     names a tiup binary (it is not installed here).
# Prints medians and spreads, ratios against each reference with the issue's goals, ferry's
# CPU time (user+sys) and peak RSS, and the time of a no-change refresh.
#
#   bash scripts/bench/clone.sh                    # builds a fresh binary into the work dir
#   FERRY_BIN=dist/ferry ROUNDS=3 bash scripts/bench/clone.sh
#   BENCH_DIR=/tmp/ferry-bench-clone LARGE_MB=100 LARGE_COUNT=4 SMALL_COUNT=996 SMALL_KB=400
#   BENCH_JSON=out.json bash scripts/bench/clone.sh   # also write the figures as JSON (all.sh)
#
# Page caches cannot be dropped here, so `cp -r` runs once untimed first and every copy reads
# warm files, as the clone reads them warm through the server. Every timed step starts after
# `sync` and a pause, so no step pays for the previous one's writeback.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
# shellcheck source=scripts/bench/_common.sh
source scripts/bench/_common.sh
ROUNDS="${ROUNDS:-3}"
work="${BENCH_DIR:-/tmp/ferry-bench-clone}"
fixture="$work/source"
mkdir -p "$work"
for tool in curl sha256sum python3; do
  command -v "$tool" >/dev/null || { echo "clone.sh: needs $tool on PATH" >&2; exit 1; }
done

if [ -n "${FERRY_BIN:-}" ]; then
  ferry="$(realpath "$FERRY_BIN")"
else
  ferry="$work/ferry"
  FERRY_OUT="$ferry" bash scripts/build_binary.sh >/dev/null
fi
shape="${LARGE_MB:-400} ${LARGE_COUNT:-4} ${SMALL_COUNT:-996} ${SMALL_KB:-400}"
if [ ! -f "$fixture/timestamp.json" ] || [ "$(cat "$work/shape" 2>/dev/null)" != "$shape" ]; then
  rm -rf "$fixture"
  # shellcheck disable=SC2086 # the shape is four numbers
  timeout 1800 deno run -A scripts/bench/_make_clone_fixture.ts "$fixture" $shape
  echo "$shape" >"$work/shape"
fi
bytes=$(du -sb --exclude=keys "$fixture" | cut -f1)
files=$(find "$fixture" -maxdepth 1 -name '*.tar.gz' | wc -l)
# The curl reference's inputs: the tarballs in 8 groups (one per curl process), and their sums.
(cd "$fixture" && find . -maxdepth 1 -name '*.tar.gz' -printf '%f\n' | sort) >"$work/files.txt"
[ -s "$work/sums.txt" ] && [ "$work/sums.txt" -nt "$fixture/timestamp.json" ] ||
  (cd "$fixture" && xargs sha256sum <"$work/files.txt") >"$work/sums.txt"
rm -f "$work"/group.*
split -n r/8 "$work/files.txt" "$work/group."

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ferry" mirror serve "$fixture" --listen "127.0.0.1:$port" --access-log off >"$work/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "Serving" "$work/serve.log" && break
  sleep 0.1
done

now() { date +%s.%N; }
seconds() { python3 -c "print(f'{$2 - $1:.3f}')"; }
settle() { sync; sleep 3; }

# 8 curl processes, each fetching its group over one keep-alive connection; then sha256sum -c.
curl8() { # destination
  local dst="$1" group args pids=()
  mkdir -p "$dst"
  for group in "$work"/group.*; do
    args=()
    while read -r name; do args+=(-o "$dst/$name" "http://127.0.0.1:$port/$name"); done <"$group"
    timeout 1800 curl -s --fail "${args[@]}" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  (cd "$dst" && timeout 1800 sha256sum -c --quiet "$work/sums.txt")
}

# Warm the page cache with one untimed copy.
rm -rf "$work/cp" "$work/target" "$work/curl" "$work/tiup"
cp -r "$fixture" "$work/cp"
rm -rf "$work/cp"
settle

results="$work/rounds.txt"
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
  echo "clone.sh: round $round/$ROUNDS" >&2
  t0=$(now); cp -r "$fixture" "$work/cp" && sync; t1=$(now)
  echo "cpsync $(seconds "$t0" "$t1")" >>"$results"
  rm -rf "$work/cp"
  settle

  t0=$(now)
  /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" timeout 1800 "$ferry" mirror clone \
    "$work/target" --full --source "http://127.0.0.1:$port" --skip-ferry-binary --json -q \
    >"$work/clone.json" &
  timed=$!
  # time -> timeout -> ferry: sample ferry itself.
  clone_pid=""
  for _ in $(seq 50); do
    clone_pid="$(pgrep -P "$(pgrep -P "$timed" | head -1)" 2>/dev/null | head -1 || true)"
    [ -n "$clone_pid" ] && break
    sleep 0.02
  done
  echo "0 0" >"$work/memory.txt"
  sampler_pid=""
  [ -n "$clone_pid" ] && sample_memory "$clone_pid" "$work/memory.txt"
  wait "$timed"
  t1=$(now)
  # The sampler writes its peaks once the clone is gone.
  [ -z "$sampler_pid" ] || wait "$sampler_pid"
  read -r _ user sys rss_kb <"$work/time.txt"
  read -r anon_kb file_kb <"$work/memory.txt"
  echo "ferry $(seconds "$t0" "$t1") $user $sys $rss_kb $anon_kb $file_kb" >>"$results"
  [ "$round" = "$ROUNDS" ] || rm -rf "$work/target"
  settle

  t0=$(now); curl8 "$work/curl"; t1=$(now)
  echo "curl8 $(seconds "$t0" "$t1")" >>"$results"
  rm -rf "$work/curl"
  settle

  if [ -n "${TIUP_BIN:-}" ]; then
    # TiUP trusts the served mirror's root on first use (untimed), then clones it.
    TIUP_HOME="$work/tiup-home" timeout 60 "$TIUP_BIN" mirror set "http://127.0.0.1:$port" \
      >/dev/null 2>&1 </dev/null
    t0=$(now)
    TIUP_HOME="$work/tiup-home" timeout 1800 "$TIUP_BIN" mirror clone "$work/tiup" --full \
      --jobs 8 >/dev/null 2>&1 </dev/null || echo "clone.sh: tiup mirror clone failed" >&2
    t1=$(now)
    echo "tiup8 $(seconds "$t0" "$t1")" >>"$results"
    rm -rf "$work/tiup" "$work/tiup-home"
    settle
  fi
done

# A refresh that finds nothing new (the last round's clone is still there).
t0=$(now)
timeout 600 "$ferry" mirror clone "$work/target" --full --source "http://127.0.0.1:$port" \
  --skip-ferry-binary --json -q >"$work/refresh.json"
t1=$(now)
refresh_s=$(seconds "$t0" "$t1")

python3 - "$bytes" "$files" "$refresh_s" "$work" "${BENCH_JSON:-}" <<'PY'
import json, statistics, sys
size, files, refresh, work, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = {}
for line in open(f"{work}/rounds.txt"):
    name, *values = line.split()
    rows.setdefault(name, []).append([float(v) for v in values])
def times(name): return [r[0] for r in rows.get(name, [])]
def med(xs): return statistics.median(xs) if xs else float("nan")
clone = times("ferry")
cpu = [r[1] + r[2] for r in rows["ferry"]]
rss_mb = max(r[3] for r in rows["ferry"]) / 1024
anon_mb = max(r[4] for r in rows["ferry"]) / 1024
file_mb = max(r[5] for r in rows["ferry"]) / 1024
c = json.load(open(f"{work}/clone.json"))
r = json.load(open(f"{work}/refresh.json"))
print(f"mirror: {files} tarballs, {size/1e9:.2f} GB; {len(clone)} rounds, median (min-max)")
def line(label, xs, extra=""):
    print(f"{label:<26} {med(xs):7.2f} s ({min(xs):.2f}-{max(xs):.2f})  {size/1e6/med(xs):7.1f} MB/s{extra}")
line("ferry mirror clone", clone, f"  CPU {med(cpu):.2f} s  peak RSS {rss_mb:.0f} MB  ({c['downloaded']} fetched)")
line("cp -r && sync", times("cpsync"))
line("8 x curl, then sha256sum", times("curl8"))
if rows.get("tiup8"): line("tiup mirror clone -j8", times("tiup8"))
# Ratios per round (same round, same machine state), then their median.
def ratios(ref): return [a / b for a, b in zip(clone, times(ref))]
result = {"bytes": size, "files": files, "rounds": len(clone), "ferry_s": clone, "ferry_cpu_s": cpu,
          "ferry_rss_mb": rss_mb, "ferry_anon_mb": anon_mb, "ferry_file_mb": file_mb,
          "refresh_s": refresh}
for ref, label, goal in [("cpsync", "clone / (cp -r && sync)", "<= 2.0"),
                         ("curl8", "clone / (8 curl + sha256sum)", "<= 0.8"),
                         ("tiup8", "clone / tiup -j8", "<= 0.5")]:
    if not rows.get(ref): continue
    xs = ratios(ref)
    result[f"{ref}_s"] = times(ref)
    result[f"ratio_{ref}"] = xs
    print(f"ratio {label:<30} {med(xs):5.2f}x ({min(xs):.2f}-{max(xs):.2f})  goal {goal}")
print(f"peak RSS: {rss_mb:.0f} MB (goal <= 100): own memory (RssAnon) {anon_mb:.0f} MB, "
      f"executable's pages (RssFile) {file_mb:.0f} MB")
print(f"no-change refresh: {refresh:.2f} s ({r['downloaded']} fetched, {r['skipped']} skipped; target < 2 s)")
if out: json.dump(result, open(out, "w"))
PY
