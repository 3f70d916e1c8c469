#!/usr/bin/env bash
# s3-rig.sh: a real S3 server on loopback for ferry's S3 tests: Ceph RADOS Gateway over a
# one-node Ceph cluster (one mon, one OSD on memstore, no auth between the daemons), started in
# the background by hand (no systemd), pids recorded, stopped by pid.
#
#   s3-rig.sh install                               apt-get what the rig needs (root)
#   s3-rig.sh start  --state-dir DIR --port N       start it; write DIR/s3.env; print it
#   s3-rig.sh status --state-dir DIR                which daemons run
#   s3-rig.sh env    --state-dir DIR                print DIR/s3.env
#   s3-rig.sh stop   --state-dir DIR                stop the pids recorded in DIR/pids
#   s3-rig.sh clean  --state-dir DIR                stop, then remove DIR (a rig dir only)
#
# Ports, all on 127.0.0.1: N = S3 over HTTP, N+1 = S3 over HTTPS (the rig's own CA:
# DIR/tls/ca.pem), N+2 = ceph-mon, N+10..N+29 = ceph-osd. Rigs 30 ports apart run side by side.
# DIR/s3.env holds AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_HTTPS, AWS_CA_BUNDLE, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION and S3_BUCKET (a bucket created at start). memstore keeps
# objects in RAM (S3RIG_MEMSTORE_MB, default 1024): a start after a stop begins empty.
# Every wait is bounded, and stop signals only pids it recorded whose command line still names
# the state dir.
set -euo pipefail

state=""
port=""
host=127.0.0.1
region=us-east-1
bucket="${S3RIG_BUCKET:-ferry-test}"
memstore_mb="${S3RIG_MEMSTORE_MB:-1024}"
daemons=(mon osd rgw)

say() { echo "s3-rig: $*" >&2; }
fail() { say "$*"; exit 1; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --state-dir) state="${2:?--state-dir needs a value}"; shift 2 ;;
      --port) port="${2:?--port needs a value}"; shift 2 ;;
      *) fail "unknown argument: $1" ;;
    esac
  done
  [ -n "$state" ] || fail "--state-dir is required"
  case "$state" in /*) ;; *) state="$PWD/$state" ;; esac
  state="${state%/}"
  # ceph.conf holds the path unquoted.
  [[ "$state" =~ ^/[A-Za-z0-9._/-]+$ ]] || fail "the state dir must match [A-Za-z0-9._/-]: $state"
  case "$state" in / | /tmp | /root | /home | /usr | /etc | /var | /work) fail "refusing $state" ;; esac
  conf="$state/ceph.conf"
  data="$state/cluster"
}

need_port() {
  [ -n "$port" ] || fail "--port is required"
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65000 ] ||
    fail "bad --port $port"
}

# ---------------------------------------------------------------- processes
# shellcheck source=_processes.sh
. "$(dirname "$0")/_processes.sh"
log_of() { echo "$data/log/$1.out"; }

pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$state/pids" 2>/dev/null | tail -1; }

alive_or_fail() { # NAME LOG
  local pid
  pid="$(pid_of "$1")"
  [ -n "$pid" ] && owned "$pid" && return 0
  tail -n 20 "$data/log/$1.out" "$2" >&2 2>/dev/null || true
  fail "$1 exited while starting"
}

running() {
  local name pid
  [ -s "$state/pids" ] || return 1
  for name in "${daemons[@]}"; do
    pid="$(pid_of "$name")"
    [ -n "$pid" ] && owned "$pid" || return 1
  done
}

# Every ceph call is bounded, and so is its connection to the mon.
ceph_() { timeout 20 ceph -c "$conf" --connect-timeout 8 "$@"; }
rgw_admin() { timeout 60 radosgw-admin -c "$conf" "$@"; }

# ---------------------------------------------------------------- configuration
write_conf() { # FSID
  cat >"$conf" <<EOF
# written by scripts/rig/s3-rig.sh: a loopback-only test cluster without auth
[global]
fsid = $1
mon host = v2:$host:$((port + 2))
public addr = $host
cluster addr = $host
ms bind ipv6 = false
ms bind msgr1 = false
ms bind port min = $((port + 10))
ms bind port max = $((port + 29))
auth cluster required = none
auth service required = none
auth client required = none
# radosgw asks for a "secure" mon session by default, which auth none cannot give
ms mon client mode = crc secure
keyring = /dev/null
run dir = $state/run
admin socket = $state/run/\$cluster-\$name.asok
log file = $data/log/\$name.log
crash dir = $data/crash
log to stderr = false
mon cluster log file = $data/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0

[mon]
mon data = $data/mon/\$id

[osd]
osd data = $data/osd/\$id
osd objectstore = memstore
memstore device bytes = $((memstore_mb * 1024 * 1024))

[client.rgw.a]
rgw frontends = beast endpoint=$host:$port ssl_endpoint=$host:$((port + 1)) ssl_certificate=$state/tls/server.pem ssl_private_key=$state/tls/server.key
rgw data = $data/rgw
rgw thread pool size = 64
# a full OSD blocks RADOS writes forever: fail the S3 request instead
rados osd op timeout = 30
rados mon op timeout = 30
EOF
}

make_tls() {
  local tls="$state/tls"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ferry s3 rig CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:$host,DNS:localhost" "extendedKeyUsage=serverAuth" \
    >"$tls/server.ext"
  openssl x509 -req -days 3650 -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
}

make_keys() {
  [ -s "$state/keys" ] && return
  printf 'ACCESS_KEY=FERRYRIG%s\nSECRET_KEY=%s\n' \
    "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)" \
    "$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')" >"$state/keys"
  chmod 600 "$state/keys"
}

write_env() {
  local access secret
  access="$(sed -n 's/^ACCESS_KEY=//p' "$state/keys")"
  secret="$(sed -n 's/^SECRET_KEY=//p' "$state/keys")"
  cat >"$state/s3.env" <<EOF
AWS_ENDPOINT_URL=http://$host:$port
AWS_ENDPOINT_URL_HTTPS=https://$host:$((port + 1))
AWS_CA_BUNDLE=$state/tls/ca.pem
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=$region
S3_BUCKET=$bucket
S3RIG_STATE_DIR=$state
EOF
  chmod 600 "$state/s3.env"
}

# curl signed with the rig's keys: s3curl METHOD PATH [CURL ARGS...]
s3curl() {
  local method=$1 path=$2 access secret
  shift 2
  access="$(sed -n 's/^ACCESS_KEY=//p' "$state/keys")"
  secret="$(sed -n 's/^SECRET_KEY=//p' "$state/keys")"
  # curl does not send x-amz-content-sha256 itself, and S3 servers require it for SigV4.
  curl -sS --max-time 30 --aws-sigv4 "aws:amz:$region:s3" --user "$access:$secret" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X "$method" "$@" "http://$host:$port$path"
}

# ---------------------------------------------------------------- start steps
start_mon() {
  launch mon ceph-mon -c "$conf" -i a -f
  local end=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$end" ]; do
    alive_or_fail mon "$data/log/mon.a.log"
    ceph_ health >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  fail "ceph-mon is not answering after 60 s (see $data/log/mon.a.log)"
}

start_osd() {
  local uuid id end
  uuid="$(cat /proc/sys/kernel/random/uuid)"
  id="$(ceph_ osd new "$uuid")" || fail "ceph osd new failed"
  [ "$id" = 0 ] || fail "expected osd id 0, got '$id'"
  timeout 120 ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >"$data/log/osd-mkfs.out" 2>&1 ||
    { tail -20 "$data/log/osd-mkfs.out" >&2; fail "ceph-osd --mkfs failed"; }
  launch osd ceph-osd -c "$conf" -i 0 -f
  end=$((SECONDS + 90))
  while [ "$SECONDS" -lt "$end" ]; do
    alive_or_fail osd "$data/log/osd.0.log"
    case "$(timeout 8 ceph -c "$conf" --connect-timeout 5 osd stat -f json 2>/dev/null || true)" in
      *'"num_up_osds":1'*) return 0 ;;
    esac
    sleep 0.3
  done
  fail "osd.0 is not up after 90 s (see $data/log/osd.0.log)"
}

start_rgw() {
  launch rgw radosgw -c "$conf" -n client.rgw.a -f
  local code="" end=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$end" ]; do
    alive_or_fail rgw "$data/log/client.rgw.a.log"
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$host:$port/" || true)"
    [ "$code" = 200 ] && return 0
    sleep 0.3
  done
  fail "radosgw is not answering on $host:$port after 120 s (last status '$code')"
}

make_user_and_bucket() {
  local access secret code
  access="$(sed -n 's/^ACCESS_KEY=//p' "$state/keys")"
  secret="$(sed -n 's/^SECRET_KEY=//p' "$state/keys")"
  rgw_admin user create --uid=ferry --display-name="ferry tests" \
    --access-key="$access" --secret-key="$secret" >/dev/null || fail "radosgw-admin user create failed"
  code="$(s3curl PUT "/$bucket" -o /dev/null -w '%{http_code}' || true)"
  [ "$code" = 200 ] || fail "cannot create the bucket $bucket (HTTP $code)"
}

# ---------------------------------------------------------------- commands
do_install() {
  [ "$(id -u)" = 0 ] || fail "install needs root"
  local wanted=(ceph-mon ceph-osd radosgw ceph-common curl openssl util-linux) missing=() p
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && { say "everything is installed"; return; }
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

do_start() {
  need_port
  local tool started=$SECONDS
  for tool in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool curl openssl setsid; do
    command -v "$tool" >/dev/null || fail "$tool is missing (run: sudo $0 install)"
  done
  if running; then say "already running in $state"; write_env; cat "$state/s3.env"; return; fi
  [ -s "$state/pids" ] && do_stop
  if [ -e "$state" ] && [ ! -e "$state/.ferry-s3-rig" ] && [ -n "$(ls -A "$state")" ]; then
    fail "$state is not empty and not a rig state dir"
  fi
  local p
  for p in "$port" $((port + 1)) $((port + 2)); do
    if (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; then fail "port $p is in use; pick another --port"; fi
  done
  mkdir -p "$state/run"
  touch "$state/.ferry-s3-rig"
  # memstore keeps nothing across a stop: every start builds the cluster afresh.
  rm -rf "$data"
  mkdir -p "$data"/{log,mon/a,osd/0,rgw,crash}
  : >"$state/pids"
  trap 'status=$?; [ $status = 0 ] || { say "start failed; stopping what started"; do_stop; }' EXIT
  make_tls
  make_keys
  local fsid
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  write_conf "$fsid"
  timeout 30 monmaptool --create --fsid "$fsid" --addv a "[v2:$host:$((port + 2))]" \
    "$state/monmap" >/dev/null
  timeout 60 ceph-mon -c "$conf" --mkfs -i a --monmap "$state/monmap" >"$data/log/mon-mkfs.out" 2>&1 ||
    { cat "$data/log/mon-mkfs.out" >&2; fail "ceph-mon --mkfs failed"; }
  start_mon
  start_osd
  start_rgw
  make_user_and_bucket
  write_env
  trap - EXIT
  say "ready in $((SECONDS - started)) s: mon $(pid_of mon), osd $(pid_of osd), rgw $(pid_of rgw)"
  cat "$state/s3.env"
}

do_stop() {
  [ -s "$state/pids" ] || { say "nothing recorded in $state/pids"; return 0; }
  local name n pid i
  # radosgw first (it talks to the cluster on its way down), then the OSD, then the mon.
  for name in rgw osd mon; do
    while read -r n pid; do
      [ "$n" = "$name" ] && owned "$pid" || continue
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 100); do owned "$pid" || break; sleep 0.1; done
      if owned "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
      for i in $(seq 50); do owned "$pid" || break; sleep 0.1; done
      owned "$pid" && say "warning: $n ($pid) is still running"
    done <"$state/pids"
  done
  rm -f "$state/pids" "$state"/run/*.pid
}

do_status() {
  [ -s "$state/pids" ] || { echo "stopped ($state)"; return 1; }
  local name pid
  while read -r name pid; do
    if owned "$pid"; then echo "$name $pid running"; else echo "$name $pid dead"; fi
  done <"$state/pids"
  running
}

do_clean() {
  [ -d "$state" ] || return 0
  [ -e "$state/.ferry-s3-rig" ] || fail "$state is not a rig state dir; not removing it"
  do_stop
  rm -rf "$state"
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  install) do_install ;;
  start) parse_args "$@"; do_start ;;
  stop) parse_args "$@"; do_stop ;;
  status) parse_args "$@"; do_status ;;
  env) parse_args "$@"; cat "$state/s3.env" ;;
  clean) parse_args "$@"; do_clean ;;
  *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
