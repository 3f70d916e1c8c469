#!/usr/bin/env bash
# Benchmark: `ferry mirror clone` of a ~2 GB mirror (4 × 400 MB + 996 small tarballs, 1000
# files) served by `ferry mirror serve` over loopback, against `cp -r` of the same directory
# in the same run. Prints wall-time ratio, MB/s, peak RSS, and the time of a no-change refresh.
#
#   bash scripts/bench/clone.sh                    # builds a fresh binary into the work dir
#   FERRY_BIN=dist/ferry bash scripts/bench/clone.sh
#   BENCH_DIR=/tmp/ferry-bench-clone LARGE_MB=400 LARGE_COUNT=4 SMALL_COUNT=996 SMALL_KB=400
#
# Page caches cannot be dropped here, so `cp -r` runs twice and the warm (second) figure is the
# floor; the clone reads the same warm files through the server. Every timed step starts after
# `sync` and a pause, so no step pays for the previous one's writeback. Two floors are printed:
# `cp -r` (data left in the page cache) and `cp -r && sync` (durable, as the clone is: it fsyncs
# every file before the signed manifests may reference it).
# Targets: clone ≤ 1.3 × cp -r; no-change refresh of 1000 files < 2 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
work="${BENCH_DIR:-/tmp/ferry-bench-clone}"
fixture="$work/source"
mkdir -p "$work"

if [ -n "${FERRY_BIN:-}" ]; then
  ferry="$(realpath "$FERRY_BIN")"
else
  ferry="$work/ferry"
  FERRY_OUT="$ferry" bash scripts/build_binary.sh >/dev/null
fi
if [ ! -f "$fixture/timestamp.json" ]; then
  rm -rf "$fixture"
  timeout 1800 deno run -A scripts/bench/_make_clone_fixture.ts "$fixture" \
    "${LARGE_MB:-400}" "${LARGE_COUNT:-4}" "${SMALL_COUNT:-996}" "${SMALL_KB:-400}"
fi
bytes=$(du -sb --exclude=keys "$fixture" | cut -f1)
files=$(find "$fixture" -maxdepth 1 -name '*.tar.gz' | wc -l)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ferry" mirror serve "$fixture" --listen "127.0.0.1:$port" --access-log off >"$work/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "Serving" "$work/serve.log" && break
  sleep 0.1
done

now() { date +%s.%N; }
seconds() { python3 -c "print(f'{$2 - $1:.2f}')"; }
settle() { sync; sleep 3; }

# The floors: cp -r, twice (the warm run counts), then cp -r && sync.
rm -rf "$work/cp1" "$work/cp2" "$work/target"
cp -r "$fixture" "$work/cp1"
rm -rf "$work/cp1"
settle
t0=$(now); cp -r "$fixture" "$work/cp2"; t1=$(now)
cp_s=$(seconds "$t0" "$t1")
rm -rf "$work/cp2"
settle
t0=$(now); cp -r "$fixture" "$work/cp2" && sync; t1=$(now)
cpsync_s=$(seconds "$t0" "$t1")
rm -rf "$work/cp2"
settle

# The clone, with peak RSS from /usr/bin/time.
t0=$(now)
/usr/bin/time -v -o "$work/time.txt" timeout 1800 "$ferry" mirror clone "$work/target" --full \
  --source "http://127.0.0.1:$port" --skip-ferry-binary --json -q >"$work/clone.json"
t1=$(now)
clone_s=$(seconds "$t0" "$t1")
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")

# A refresh that finds nothing new.
settle
t0=$(now)
timeout 600 "$ferry" mirror clone "$work/target" --full --source "http://127.0.0.1:$port" \
  --skip-ferry-binary --json -q >"$work/refresh.json"
t1=$(now)
refresh_s=$(seconds "$t0" "$t1")

python3 - "$bytes" "$files" "$cp_s" "$clone_s" "$rss_kb" "$refresh_s" "$work" "$cpsync_s" <<'PY'
import json, sys
size, files, cp, clone, rss, refresh, work, cpsync = sys.argv[1:]
size, files, cp, clone, rss, refresh = int(size), int(files), float(cp), float(clone), int(rss), float(refresh)
cpsync = float(cpsync)
c = json.load(open(f"{work}/clone.json"))
r = json.load(open(f"{work}/refresh.json"))
print(f"mirror: {files} tarballs, {size/1e9:.2f} GB")
print(f"cp -r (warm):        {cp:7.2f} s  {size/1e6/cp:8.1f} MB/s")
print(f"cp -r && sync:       {cpsync:7.2f} s  {size/1e6/cpsync:8.1f} MB/s")
print(f"ferry mirror clone:  {clone:7.2f} s  {size/1e6/clone:8.1f} MB/s  peak RSS {rss/1024:.0f} MB"
      f"  ({c['downloaded']} fetched)")
print(f"ratio clone / cp -r: {clone/cp:7.2f}x   (target <= 1.3x)")
print(f"ratio clone / cp -r && sync: {clone/cpsync:7.2f}x")
print(f"no-change refresh:   {refresh:7.2f} s  ({r['downloaded']} fetched, {r['skipped']} skipped;"
      f" target < 2 s)")
PY
