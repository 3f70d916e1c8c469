# Process helpers the rig scripts share (sourced, not run). The caller sets $state (its state
# dir) and defines fail MESSAGE and log_of NAME (the file a daemon's output goes to).

owned() { # PID: alive, not a zombie, and started by this rig (its command line names the state dir)
  [ -r "/proc/$1/cmdline" ] || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] || return 1
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$state/"
}

launch() { # NAME COMMAND...: run detached in its own session, record its pid in $state/pids
  local name=$1 pidfile="$state/run/$1.pid" log i
  shift
  log="$(log_of "$name")"
  rm -f "$pidfile"
  # The inner shell writes its own pid, then becomes the server: the recorded pid is the server's.
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >"$log" 2>&1 </dev/null &
  for i in $(seq 100); do [ -s "$pidfile" ] && break; sleep 0.05; done
  [ -s "$pidfile" ] || fail "$name did not start (see $log)"
  echo "$name $(cat "$pidfile")" >>"$state/pids"
}
