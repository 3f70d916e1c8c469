#!/usr/bin/env bash
# registry-rig.sh: real container registries on loopback for ferry's proxy e2e tests.
#
#   registry-rig.sh install                              apt-get what the rig needs (root)
#   registry-rig.sh start  --state-dir DIR --base-port N start every instance, write DIR/rig.env
#   registry-rig.sh seed   --state-dir DIR               push the test images, write DIR/seed.json
#   registry-rig.sh status --state-dir DIR               which instances run
#   registry-rig.sh env    --state-dir DIR               print DIR/rig.env
#   registry-rig.sh stop   --state-dir DIR               stop the pids recorded in DIR/pids
#   registry-rig.sh clean  --state-dir DIR               remove DIR (stopped rigs only)
#
# Instances, all on 127.0.0.1, port = base + offset (CNCF Distribution = Debian's docker-registry):
#   +0 upstream      read-write, no auth (the tests push here; its storage backs +1 +2 +6 +7)
#   +1 basic         read-only view, htpasswd Basic auth
#   +2 token         read-only view, Bearer tokens from +3
#   +3 tokensrv      token server (token_server.mjs): anonymous pulls all but private/*
#   +4 mirror        Distribution pull-through cache of +0
#   +5 mirror-token  Distribution pull-through cache of +2, with the rig user's credentials
#   +6 tls           read-only view over HTTPS (the rig's own CA: DIR/tls/ca.pem)
#   +7 redirect      read-only view whose blob requests answer 307 to +8 (like a CDN)
#   +8 blobsrv       static server of the storage directory (blob_server.mjs)
#
# Everything lives in the state dir; logs in DIR/logs/<instance>.log. Every wait is bounded, and
# stop signals only pids it recorded whose command line still names the state dir.
# RIG_USER / RIG_PASS (default testuser / testpass) and RIG_BIG_MB (default 50) may be set.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
state=""
base=""
user="${RIG_USER:-testuser}"
pass="${RIG_PASS:-testpass}"
big_mb="${RIG_BIG_MB:-50}"
host=127.0.0.1
service=ferry-rig
issuer=ferry-rig-issuer
instances=(upstream basic token tokensrv mirror mirror-token tls redirect blobsrv)

say() { echo "registry-rig: $*" >&2; }
fail() { say "$*"; exit 1; }

offset_of() {
  local i
  for i in "${!instances[@]}"; do [ "${instances[$i]}" = "$1" ] && { echo "$i"; return; }; done
  fail "no instance named $1"
}
port() { echo $((base + $(offset_of "$1"))); }
url() { echo "http://$host:$(port "$1")"; }

# ---------------------------------------------------------------- processes
# shellcheck source=_processes.sh
. "$here/_processes.sh"
log_of() { echo "$state/logs/$1.log"; }

await_http() { # NAME URL [CURL ARGS...]: until it answers 2xx, 401 or 404 (30 s at most)
  local name=$1 target=$2 code="" i
  shift 2
  for i in $(seq 60); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$target" || true)"
    case "$code" in 2?? | 401 | 404) return 0 ;; esac
    sleep 0.5
  done
  fail "$name is not answering at $target (last status '$code'; see $state/logs/$name.log)"
}

running() {
  [ -s "$state/pids" ] || return 1
  local name pid
  while read -r name pid; do owned "$pid" || return 1; done <"$state/pids"
}

# ---------------------------------------------------------------- configuration
registry_config() { # NAME STORAGE READONLY(true|false) [EXTRA YAML]
  cat >"$state/conf/$1.yml" <<EOF
version: 0.1
log: { level: info, accesslog: { disabled: false } }
storage:
  filesystem: { rootdirectory: $2 }
  delete: { enabled: true }
  maintenance:
    uploadpurging: { enabled: false }
    readonly: { enabled: $3 }
http:
  addr: $host:$(port "$1")
  secret: ferry-rig-$1
${4:-}
EOF
}

make_keys() {
  local tls="$state/tls" token="$state/token"
  mkdir -p "$tls/certs.d" "$token"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ferry rig CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:$host,DNS:localhost" "extendedKeyUsage=serverAuth" \
    >"$tls/server.ext"
  openssl x509 -req -days 3650 -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
  cp "$tls/ca.pem" "$tls/certs.d/ca.crt" # the form skopeo --cert-dir and containerd read
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$issuer" \
    -keyout "$token/key.pem" -out "$token/cert.pem" 2>/dev/null
  htpasswd -Bbn "$user" "$pass" >"$state/htpasswd"
}

write_env() {
  cat >"$state/rig.env" <<EOF
# written by scripts/rig/registry-rig.sh start
RIG_STATE_DIR=$state
RIG_BASE_PORT=$base
RIG_UPSTREAM_URL=$(url upstream)
RIG_UPSTREAM_HOST=$host:$(port upstream)
RIG_BASIC_URL=$(url basic)
RIG_TOKEN_URL=$(url token)
RIG_TOKEN_REALM=$(url tokensrv)/token
RIG_TOKEN_SERVICE=$service
RIG_MIRROR_URL=$(url mirror)
RIG_MIRROR_TOKEN_URL=$(url mirror-token)
RIG_TLS_URL=https://$host:$(port tls)
RIG_TLS_CA=$state/tls/ca.pem
RIG_TLS_CERT_DIR=$state/tls/certs.d
RIG_REDIRECT_URL=$(url redirect)
RIG_BLOBSRV_URL=$(url blobsrv)
RIG_USER=$user
RIG_PASS=$pass
RIG_SEED_JSON=$state/seed.json
EOF
}

# ---------------------------------------------------------------- commands
do_install() {
  [ "$(id -u)" = 0 ] || fail "install needs root"
  local wanted=(docker-registry skopeo apache2-utils jq openssl curl util-linux) missing=() p
  command -v node >/dev/null || wanted+=(nodejs)
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && { say "everything is installed"; return; }
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

do_start() {
  local tool
  for tool in docker-registry node openssl curl htpasswd setsid; do
    command -v "$tool" >/dev/null || fail "$tool is missing (run: sudo $0 install)"
  done
  if running; then say "already running in $state"; return; fi
  [ -s "$state/pids" ] && do_stop
  if [ -e "$state" ] && [ ! -e "$state/.ferry-registry-rig" ] && [ -n "$(ls -A "$state")" ]; then
    fail "$state is not empty and not a rig state dir"
  fi
  local name
  for name in "${instances[@]}"; do
    if (exec 3<>"/dev/tcp/$host/$(port "$name")") 2>/dev/null; then
      fail "port $(port "$name") ($name) is in use; pick another --base-port"
    fi
  done
  mkdir -p "$state"/{conf,logs,run,data/upstream,data/mirror,data/mirror-token}
  touch "$state/.ferry-registry-rig"
  : >"$state/pids"
  trap 'status=$?; [ $status = 0 ] || { say "start failed; stopping what started"; do_stop; }' EXIT
  make_keys

  local storage="$state/data/upstream"
  registry_config upstream "$storage" false
  registry_config basic "$storage" true "auth:
  htpasswd: { realm: ferry-rig-basic, path: $state/htpasswd }"
  registry_config token "$storage" true "auth:
  token:
    realm: $(url tokensrv)/token
    service: $service
    issuer: $issuer
    rootcertbundle: $state/token/cert.pem"
  registry_config tls "$storage" true
  printf '  tls: { certificate: %s, key: %s }\n' "$state/tls/server.pem" "$state/tls/server.key" \
    >>"$state/conf/tls.yml"
  registry_config redirect "$storage" true "middleware:
  storage:
    - name: redirect
      options: { baseurl: $(url blobsrv)/ }"
  registry_config mirror "$state/data/mirror" false "proxy: { remoteurl: $(url upstream) }"
  registry_config mirror-token "$state/data/mirror-token" false \
    "proxy: { remoteurl: $(url token), username: $user, password: $pass }"

  for name in upstream basic token tls redirect; do
    launch "$name" docker-registry serve "$state/conf/$name.yml"
  done
  launch tokensrv node "$here/token_server.mjs" "$host:$(port tokensrv)" \
    "$state/token/key.pem" "$state/token/cert.pem" "$issuer" "$user:$pass"
  launch blobsrv node "$here/blob_server.mjs" "$host:$(port blobsrv)" "$storage"
  for name in upstream basic token redirect; do await_http "$name" "$(url "$name")/v2/"; done
  await_http tokensrv "$(url tokensrv)/token?service=$service"
  await_http tls "https://$host:$(port tls)/v2/" --cacert "$state/tls/ca.pem"
  await_http blobsrv "$(url blobsrv)/healthz"
  # The pull-through caches ask their upstream at start: they come last.
  for name in mirror mirror-token; do
    launch "$name" docker-registry serve "$state/conf/$name.yml"
    await_http "$name" "$(url "$name")/v2/"
  done
  write_env
  trap - EXIT
  say "running; environment in $state/rig.env"
  url upstream
}

do_seed() {
  local tool
  for tool in skopeo node; do command -v "$tool" >/dev/null || fail "$tool is missing"; done
  running || fail "the rig is not running (start it first)"
  local layout="$state/layout"
  if [ "$(cat "$layout/.built" 2>/dev/null)" != "big=$big_mb" ]; then
    node "$here/build_layout.mjs" "$layout" "$big_mb"
    echo "big=$big_mb" >"$layout/.built"
  fi
  # tag in the layout -> where it goes, with skopeo options
  local pushes=(
    "v1 test/hello:v1"
    "v1 test/hello:v1-docker --format v2s2"
    "v1 test/nested/deep/hello:v1"
    "v1 private/hello:v1"
    "multi test/multi:latest --all"
    "multi test/multi:docker --all --format v2s2"
    "multi library/hello:latest --all --format v2s2"
    "big test/big:latest"
  )
  local line from to refs=()
  for line in "${pushes[@]}"; do
    read -r from to options <<<"$line"
    # shellcheck disable=SC2086 # options are words
    timeout 300 skopeo copy --quiet --dest-tls-verify=false ${options:-} \
      "oci:$layout:$from" "docker://$host:$(port upstream)/$to" >&2
    refs+=("$to")
  done
  node "$here/read_seed.mjs" "$(url upstream)" "$layout" "$state/seed.json" "${refs[@]}"
  say "seeded; digests in $state/seed.json"
}

do_stop() {
  [ -f "$state/pids" ] || return 0
  local name pid signalled=() i
  while read -r name pid; do
    if owned "$pid"; then kill -TERM "$pid" 2>/dev/null && signalled+=("$pid"); fi
  done <"$state/pids"
  for i in $(seq 50); do
    local alive=0
    for pid in "${signalled[@]+"${signalled[@]}"}"; do owned "$pid" && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${signalled[@]+"${signalled[@]}"}"; do
    owned "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  rm -f "$state/pids" "$state"/run/*.pid
}

do_status() {
  [ -s "$state/pids" ] || { echo "not running"; return 1; }
  local name pid bad=0
  while read -r name pid; do
    if owned "$pid"; then echo "$name up (pid $pid)"; else echo "$name DOWN"; bad=1; fi
  done <"$state/pids"
  return $bad
}

# ---------------------------------------------------------------- arguments
command="${1:-}"
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case "$1" in
  --state-dir) state="${2:?}"; shift 2 ;;
  --base-port) base="${2:?}"; shift 2 ;;
  *) fail "unknown argument '$1' (see the top of $0)" ;;
  esac
done
state="${state:-${RIG_STATE_DIR:-/tmp/ferry-registry-rig}}"
case "$state" in /*) ;; *) state="$PWD/$state" ;; esac
if [ -z "$base" ] && [ -f "$state/rig.env" ]; then
  base="$(sed -n 's/^RIG_BASE_PORT=//p' "$state/rig.env")"
fi
base="${base:-${RIG_BASE_PORT:-15000}}"
[[ "$base" =~ ^[0-9]+$ ]] && [ "$base" -ge 1024 ] && [ "$base" -le 65000 ] ||
  fail "--base-port must be a number from 1024 to 65000, not '$base'"

case "$command" in
install) do_install ;;
start) do_start ;;
seed) do_seed ;;
stop) do_stop ;;
status) do_status ;;
env) cat "$state/rig.env" ;;
clean)
  running && fail "the rig is running; stop it first"
  [ -e "$state/.ferry-registry-rig" ] || fail "$state is not a rig state dir"
  rm -rf -- "$state"
  ;;
*) sed -n '2,9s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
