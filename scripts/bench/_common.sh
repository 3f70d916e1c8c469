# Shared by the benchmarks (sourced, not run): the CPU split and the ferry binary under test.
#
#   pin_cpus           SERVER_CPU / CLIENT_CPU (taskset prefixes) and THREADS for the load tool:
#                      on 2+ cores the server gets core 0 and the load generator core 1, so that
#                      neither measures the other's work.
#   ferry_binary NAME  FERRY_BIN if set, else dist/ferry built by scripts/build_binary.sh when
#                      missing (the same build as the release binary); prints its path.

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
