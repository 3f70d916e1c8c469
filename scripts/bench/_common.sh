# Shared by the benchmarks (sourced, not run): the CPU split and the ferry binary under test.
#
#   pin_cpus           SERVER_CPU / CLIENT_CPU (taskset prefixes) and THREADS for the load tool:
#                      on 2+ cores the server gets core 0 and the load generator core 1, so that
#                      neither measures the other's work.
#   ferry_binary NAME  FERRY_BIN if set, else dist/ferry built by scripts/build_binary.sh when
#                      missing (the same build as the release binary); prints its path.
#   start_server LOG CMD...  CMD in the background on SERVER_CPU, its pid in $started_pid and
#                      in the caller's `pids` array, killed by a watchdog after MAX_SECONDS.
#   errors_of WRK_OUTPUT     wrk's error lines, if any.
#   sample_memory PID OUT    in the background (pid in $sampler_pid) until PID exits: the
#                      peaks of its own memory (RssAnon) and of the executable's pages it touched
#                      (RssFile), in KiB, written to OUT as "ANON FILE". VmRSS counts both, and a
#                      compiled Bun program's 110 MB executable is 26-45 MiB of it (shared,
#                      reclaimable) before it does anything.

pin_cpus() {
  if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
    THREADS="${THREADS:-1}"
  else
    SERVER_CPU=()
    CLIENT_CPU=()
    THREADS="${THREADS:-2}"
  fi
}

ferry_binary() {
  local bin="${FERRY_BIN:-$PWD/dist/ferry}"
  if [ ! -x "$bin" ]; then
    echo "$1: building $bin (scripts/build_binary.sh)" >&2
    FERRY_OUT="$bin" bash scripts/build_binary.sh >&2
  fi
  echo "$bin"
}

# Kills pid after MAX_SECONDS. Its own sleep dies with it, and it holds none of our output open.
watchdog() { # pid
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$MAX_SECONDS" &
    sleeper=$!
    wait "$sleeper"
    kill -9 "$1" 2>/dev/null
  ) >/dev/null 2>&1 &
  pids+=($!)
}

started_pid=""
start_server() { # log_file command...
  local log="$1"
  shift
  "${SERVER_CPU[@]}" "$@" >"$log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  watchdog "$started_pid"
}

errors_of() { grep -E "Non-2xx|Socket errors" <<<"$1" || true; }

sample_memory() { # pid out_file
  (
    anon=0 file=0
    while [ -r "/proc/$1/status" ]; do
      read -r a f < <(awk '/^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} END {print a+0, f+0}' \
        "/proc/$1/status" 2>/dev/null || echo "0 0")
      [ "${a:-0}" -gt "$anon" ] && anon=$a
      [ "${f:-0}" -gt "$file" ] && file=$f
      sleep 0.1
    done
    echo "$anon $file" >"$2"
  ) &
  sampler_pid=$!
}
