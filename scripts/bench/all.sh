#!/usr/bin/env bash
# Every benchmark of issue 11 in one go, and one table: serve (against nginx), clone (against
# `cp -r && sync`, 8 curl processes + sha256sum, and TiUP -j8 when TIUP_BIN is set), proxy
# (against a direct pull and Distribution's pull-through cache), serve_s3 (a bucket on the
# project's Ceph rig, warm memory cache, against the same files on disk) and startup (against a
# Bun-compiled hello world). Each script interleaves ferry and its reference over ROUNDS rounds;
# the table shows, for every ratio, its goal, the median of the per-round ratios and their spread
# (min-max), ferry's peak RSS, and CPU-µs per request for serve and proxy.
#
#   bash scripts/bench/all.sh                     # builds the binary once, ~15-25 min
#   ROUNDS=5 FERRY_BIN=dist/ferry bash scripts/bench/all.sh
#   LARGE_MB=100 SMALL_COUNT=200 ROUNDS=2 bash scripts/bench/all.sh   # a quicker, smaller clone
#   ONLY="serve proxy" bash scripts/bench/all.sh  # a subset (the table shows what ran)
#
# Absolute times move with the machine and its load (printed before and after); the per-round
# ratios and the CPU figures are the comparable numbers. Each script's own output is kept in the
# work directory, whose path is printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
export PATH="$root/node_modules/.bin:$PATH"
ROUNDS="${ROUNDS:-3}"
ONLY="${ONLY:-serve serve_s3 clone proxy startup}"
work="$(mktemp -d /tmp/ferry-bench-all.XXXXXX)"
echo "all.sh: work directory $work (kept: each script's full output)" >&2

if [ -n "${FERRY_BIN:-}" ]; then
  ferry="$(realpath "$FERRY_BIN")"
else
  ferry="$work/ferry"
  FERRY_OUT="$ferry" bash scripts/build_binary.sh >&2
fi
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

run() { # name command...
  local name="$1"
  shift
  case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
  echo "all.sh: $name ..." >&2
  if ! BENCH_JSON="$work/$name.json" FERRY_BIN="$ferry" ROUNDS="$ROUNDS" "$@" \
    >"$work/$name.log" 2>&1; then
    echo "all.sh: $name failed; see $work/$name.log" >&2
    tail -5 "$work/$name.log" >&2
  fi
}
run serve bash scripts/bench/serve.sh
run serve_s3 bash scripts/bench/serve_s3.sh
run clone env BENCH_DIR="${BENCH_DIR:-/tmp/ferry-bench-clone}" bash scripts/bench/clone.sh
run proxy bash scripts/bench/proxy.sh "$ROUNDS"
run startup bash scripts/bench/startup.sh
# Peak RSS of a start-up (`--version`), for the startup row.
/usr/bin/time -f '%M' -o "$work/startup_rss.txt" "$ferry" --version >/dev/null

python3 - "$work" "$ROUNDS" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$("$ferry" --version)" "$(nproc)" <<'PY'
import json, os, statistics, sys
work, rounds, load_before, load_after, ferry_version, cpus = sys.argv[1:]

def load(name):
    path = f"{work}/{name}.json"
    return json.load(open(path)) if os.path.exists(path) else None

def med(xs): return statistics.median(xs)
def spread(xs): return f"{min(xs):.2f}-{max(xs):.2f}"

rows = []
def row(work_, ferry, reference, ratios, goal, ok, rss="", cpu=""):
    rows.append((work_, ferry, reference, f"{med(ratios):.2f}x", spread(ratios), goal,
                 "met" if ok(med(ratios)) else "NOT MET", rss, cpu))

serve = load("serve")
if serve:
    r = [f / n for f, n in zip(serve["rps_ferry"], serve["rps_nginx"])]
    row("serve 1 KB manifest, req/s", f"{med(serve['rps_ferry']):.0f}",
        f"nginx {med(serve['rps_nginx']):.0f}", r, ">= 1.2x nginx", lambda x: x >= 1.2,
        f"{serve['rss_mb_ferry']:.0f} (nginx {serve['rss_mb_nginx']:.0f})",
        f"{med(serve['cpu_us_ferry']):.1f} (nginx {med(serve['cpu_us_nginx']):.1f})")
    r = [f / n for f, n in zip(serve["mibps_ferry"], serve["mibps_nginx"])]
    row("serve 100 MB tarball, MiB/s", f"{med(serve['mibps_ferry']):.0f}",
        f"nginx {med(serve['mibps_nginx']):.0f}", r, ">= 1.0x nginx", lambda x: x >= 1.0,
        f"{serve['rss_mb_ferry_16x1gb']:.0f} (16 x 1 GB)",
        f"{med(serve['cpu_us_mib_ferry']):.0f}/MiB (nginx {med(serve['cpu_us_mib_nginx']):.0f})")

serve_s3 = load("serve_s3")
if serve_s3:
    r = [s / d for s, d in zip(serve_s3["rps_s3"], serve_s3["rps_disk"])]
    row("serve s3:// 1 KB manifest, warm, req/s", f"{med(serve_s3['rps_s3']):.0f}",
        f"same on disk {med(serve_s3['rps_disk']):.0f}", r, ">= 0.9x disk", lambda x: x >= 0.9,
        "", f"{med(serve_s3['cpu_us_s3']):.1f} (disk {med(serve_s3['cpu_us_disk']):.1f})")

clone = load("clone")
if clone:
    size = f"{clone['bytes'] / 1e9:.2f} GB / {clone['files']} tarballs"
    ferry_s = f"{med(clone['ferry_s']):.2f} s, CPU {med(clone['ferry_cpu_s']):.2f} s"
    # VmRSS counts the executable's pages too; the own-memory figure is what the clone holds.
    own = f", own {clone['ferry_anon_mb']:.0f}" if "ferry_anon_mb" in clone else ""
    rss = f"{clone['ferry_rss_mb']:.0f}{own} (goal <= 100)"
    row(f"clone --full, {size}", ferry_s, f"cp -r && sync {med(clone['cpsync_s']):.2f} s",
        clone["ratio_cpsync"], "<= 2x cp+sync", lambda x: x <= 2.0, rss)
    row("clone --full (same runs)", ferry_s, f"8 curl + sha256sum {med(clone['curl8_s']):.2f} s",
        clone["ratio_curl8"], "<= 0.8x (1.25x faster)", lambda x: x <= 0.8, rss)
    if "ratio_tiup8" in clone:
        row("clone --full (same runs)", ferry_s, f"tiup -j8 {med(clone['tiup8_s']):.2f} s",
            clone["ratio_tiup8"], "<= 0.5x (2x faster)", lambda x: x <= 0.5, rss)
    else:
        rows.append(("clone vs TiUP -j8", "-", "not run (set TIUP_BIN)", "-", "-",
                     "<= 0.5x", "-", "", ""))

proxy = load("proxy")
if proxy:
    requests = med(proxy["requests_per_pull"]) or 1
    cold_us = med(proxy["cold_cpu_ms"]) * 1000 / requests
    warm_us = med(proxy["warm_cpu_ms"]) * 1000 / requests
    rss = f"{proxy['rss_mb']:.0f}"
    r = [c / d for c, d in zip(proxy["cold_ms"], proxy["direct_ms"])]
    row("proxy skopeo pull 50 MB, cold, ms", f"{med(proxy['cold_ms']):.0f}",
        f"direct {med(proxy['direct_ms']):.0f}", r, "<= 1.15x direct", lambda x: x <= 1.15, rss,
        f"{cold_us:.0f} ({med(proxy['cold_cpu_ms']):.0f} ms/pull)")
    r = [w / d for w, d in zip(proxy["warm_ms"], proxy["dist_warm_ms"])]
    row("proxy warm, ms", f"{med(proxy['warm_ms']):.0f}",
        f"Distribution warm {med(proxy['dist_warm_ms']):.0f}", r, "<= 0.9x Distribution",
        lambda x: x <= 0.9, rss, f"{warm_us:.0f} ({med(proxy['warm_cpu_ms']):.0f} ms/pull)")
    r = [w / d for w, d in zip(proxy["warm_ms"], proxy["direct_ms"])]
    row("proxy warm, ms", f"{med(proxy['warm_ms']):.0f}", f"direct {med(proxy['direct_ms']):.0f}",
        r, "<= 1.0x direct", lambda x: x <= 1.0, rss)

startup = load("startup")
if startup:
    version = startup["median_ms"]["--version"]
    hello = startup["median_ms"]["hello"]
    rss_kb = int(open(f"{work}/startup_rss.txt").read().split()[-1])
    rows.append(("ferry --version (compiled), ms", f"{med(version):.1f}",
                 f"Bun hello world {med(hello):.1f}",
                 f"{med(version) / med(hello):.2f}x", spread([v / h for v, h in zip(version, hello)]),
                 "<= 30 ms", "met" if med(version) <= 30 else "NOT MET", f"{rss_kb / 1024:.0f}",
                 ""))

head = ("work", "ferry", "reference, same run", "ratio", "spread", "goal", "", "peak RSS MB",
        "CPU-us/request")
widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
print(f"ferry benchmarks: {ferry_version}; {cpus} CPUs; {rounds} rounds each, ratios are medians of "
      f"per-round ratios (spread: min-max)")
print(f"load average before {load_before}, after {load_after}")
for r in [head] + rows:
    print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
print(f"full outputs: {work}/<serve|serve_s3|clone|proxy|startup>.log")
PY
