#!/usr/bin/env bash
# Benchmark: how long the compiled ferry takes to start, against the runtime's floor (a Bun-compiled
# hello world, built here with the same Bun), with hyperfine:
#
#   - ferry --version, ferry --help, ferry mirror --help   (goal: --version <= 30 ms)
#   - ferry mirror verify of a small mirror (11 tarballs)   (a real command, for reference)
#
# Usage: bash scripts/bench/startup.sh             (builds dist/ferry if missing)
#   ROUNDS=3 RUNS=30 FERRY_BIN=dist/ferry bash scripts/bench/startup.sh
#   FERRY_BASELINE=/tmp/ferry-old bash scripts/bench/startup.sh   # also measure an older build
#
# Method: every round runs each command RUNS times after a warm-up (hyperfine -N, no shell); the
# rounds alternate over all commands, so load from other processes hits them alike. Printed: the
# median over rounds of each round's median, the spread of those medians, mean user+sys CPU, and
# the ratio to hello world's median. Times only, no assertions: the test suite never times.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
export PATH="$root/node_modules/.bin:$PATH"

ROUNDS="${ROUNDS:-3}"
RUNS="${RUNS:-30}"
WARMUP="${WARMUP:-5}"
FERRY_BIN="${FERRY_BIN:-$root/dist/ferry}"
for tool in hyperfine bun python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
if [ ! -x "$FERRY_BIN" ]; then bash scripts/build_binary.sh; fi
ferry="$(realpath "$FERRY_BIN")"

work="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-startup.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The commands must not read or write the caller's profile.
export FERRY_HOME="$work/home"

echo 'console.log("hello");' >"$work/hello.ts"
timeout 300 bun build --compile "$work/hello.ts" --outfile "$work/hello" >/dev/null
timeout 300 node_modules/.bin/deno run -A scripts/bench/_make_clone_fixture.ts "$work/mirror" 1 1 10 4 \
  >/dev/null
"$ferry" mirror verify "$work/mirror" -q >/dev/null

names=(hello "--version" "--help" "mirror --help" "mirror verify")
commands=(
  "$work/hello"
  "$ferry --version"
  "$ferry --help"
  "$ferry mirror --help"
  "$ferry mirror verify $work/mirror -q"
)
if [ -n "${FERRY_BASELINE:-}" ]; then
  baseline="$(realpath "$FERRY_BASELINE")"
  names+=("baseline --version" "baseline --help" "baseline mirror verify")
  commands+=("$baseline --version" "$baseline --help" "$baseline mirror verify $work/mirror -q")
fi

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  timeout 900 hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" \
    --export-json "$work/round-$round.json" "${commands[@]}" >/dev/null 2>"$work/hyperfine.log" ||
    { cat "$work/hyperfine.log" >&2; exit 1; }
done

python3 - "$work" "$ROUNDS" "${BENCH_JSON:-}" "${names[@]}" <<'EOF'
import json, statistics, sys
work, rounds, out, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
per = {name: [] for name in names}
cpu = {name: [] for name in names}
for r in range(1, rounds + 1):
    results = json.load(open(f"{work}/round-{r}.json"))["results"]
    for name, result in zip(names, results):
        per[name].append(result["median"] * 1000)
        cpu[name].append((result["user"] + result["system"]) * 1000)
floor = statistics.median(per["hello"])
print(f"{'command':<30} {'median ms':>10} {'spread ms':>14} {'cpu ms':>8} {'x hello':>8}")
for name in names:
    m = statistics.median(per[name])
    spread = f"{min(per[name]):.1f}-{max(per[name]):.1f}"
    label = "hello world (floor)" if name == "hello" else f"ferry {name}"
    print(f"{label:<30} {m:>10.1f} {spread:>14} {statistics.mean(cpu[name]):>8.1f} {m / floor:>7.2f}x")
version = statistics.median(per["--version"])
print(f"goal: ferry --version <= 30 ms: {version:.1f} ms ({'met' if version <= 30 else 'not met'})")
if out:  # the figures for scripts/bench/all.sh: per-round medians (ms) and mean CPU per command
    json.dump({"median_ms": per, "cpu_ms": cpu}, open(out, "w"))
EOF
