#!/usr/bin/env bash
# A three-node twinstore region on loopback, run in the background so you can kill nodes by hand.
#
#   scripts/cluster.sh up           build if needed, start nodes 1..3, wait for a leader, show status
#   scripts/cluster.sh status       which node processes run, then `twinstore cluster status`
#   scripts/cluster.sh kill N       kill -9 node N (no clean shutdown: a crash)
#   scripts/cluster.sh restart N    stop node N if it runs, start it again with the same settings
#   scripts/cluster.sh down         stop every node (SIGTERM, then SIGKILL after 15 s); data is kept
#   scripts/cluster.sh clean        down, then delete the data directory
#   scripts/cluster.sh logs N       the last lines of node N's log
#   scripts/cluster.sh token        print an Admin token the nodes accept (the key made if missing)
#
# Node N listens on 127.0.O.N:PORT (O is 1 for the region named primary, else 2; Linux answers on
# all of 127.0.0.0/8 without setup) and is started as `twinstore node --config DIR/nodeN.toml`;
# its data, log and pid file live in DIR too:
#
#   DIR/nodeN.toml  DIR/nodeN/ (data)  DIR/nodeN.log  DIR/nodeN.pid
#
# Settings (environment):
#   TWINSTORE_CLUSTER_DIR   the directory [./twinstore-data/cluster]; delete it to start over
#   TWINSTORE_BASE_PORT     the port of every node [7101]
#   TWINSTORE_NODES         how many nodes [3]
#   TWINSTORE_BIN           the twinstore binary [target/release/twinstore, built with cargo if
#                           missing or older than the sources]
#   TWINSTORE_REGION        the region's name [primary]
#   TWINSTORE_OCTET         the third octet of its nodes' addresses [1 for primary, else 2]
#   TWINSTORE_STANDBY       DR, on a primary: its standby region's node URLs (comma-separated)
#   TWINSTORE_STANDBY_OF    DR, on a standby: the URLs of the primary region it follows
#   TWINSTORE_NODE_CONFIG   more `key = value` lines for every node's config file
#   TWINSTORE_CLUSTER_CERTS the certificate directory [DIR/certs]: the CA (made by `twinstore
#                           certs init` when missing), each node's certificate, and the token
#                           key pair (`twinstore token keygen`); give two regions of a DR pair
#                           the same one, so they trust each other and accept the same tokens
#   TWINSTORE_CLUSTER_INSECURE=1  plaintext nodes, without TLS or authentication (loopback only)
#
# Secure by default: TLS on every port, mutual TLS between the nodes, and a bearer token needed
# for every call. Then, in any shell (`up` prints these):
#   export TWINSTORE_ENDPOINT=https://127.0.1.1:7101,https://127.0.1.2:7101,...
#   export TWINSTORE_CA=DIR/certs/ca.pem TWINSTORE_TOKEN=...
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${TWINSTORE_CLUSTER_DIR:-./twinstore-data/cluster}"
PORT="${TWINSTORE_BASE_PORT:-7101}"
NODES="${TWINSTORE_NODES:-3}"
BIN="${TWINSTORE_BIN:-}"
REGION="${TWINSTORE_REGION:-primary}"
if [[ "$REGION" == primary ]]; then OCTET="${TWINSTORE_OCTET:-1}"; else OCTET="${TWINSTORE_OCTET:-2}"; fi
STANDBY="${TWINSTORE_STANDBY:-}"
STANDBY_OF="${TWINSTORE_STANDBY_OF:-}"
EXTRA_CONFIG="${TWINSTORE_NODE_CONFIG:-}"
INSECURE="${TWINSTORE_CLUSTER_INSECURE:-}"
CERTS="${TWINSTORE_CLUSTER_CERTS:-$DIR/certs}"
if [[ -n "$INSECURE" ]]; then SCHEME=http; else SCHEME=https; fi
START_WAIT=30    # seconds a node may take to listen, and the region to elect a leader
STOP_WAIT=15     # seconds a node may take to stop after SIGTERM
MARKER=".twinstore-cluster"

die() { echo "cluster.sh: $*" >&2; exit 1; }

[[ "$NODES" =~ ^[1-9]$ ]] || die "TWINSTORE_NODES must be 1..9, not '$NODES'"
[[ "$PORT" =~ ^[0-9]+$ ]] && (( PORT > 0 && PORT < 65536 )) || die "bad TWINSTORE_BASE_PORT '$PORT'"
[[ "$OCTET" =~ ^[0-9]+$ ]] && (( OCTET < 256 )) || die "bad TWINSTORE_OCTET '$OCTET'"
[[ -z "$STANDBY" || -z "$STANDBY_OF" ]] || die "TWINSTORE_STANDBY and TWINSTORE_STANDBY_OF exclude each other"

url() { echo "$SCHEME://127.0.$OCTET.$1:$PORT"; }
endpoints() {
  local n eps=""
  for ((n = 1; n <= NODES; n++)); do eps+="${eps:+,}$(url "$n")"; done
  echo "$eps"
}
peers() {
  local n p=""
  for ((n = 1; n <= NODES; n++)); do p+="${p:+,}$n=$(url "$n")"; done
  echo "$p"
}
pid_of() { [[ -f "$DIR/node$1.pid" ]] && cat "$DIR/node$1.pid" || true; }
running() { local pid; pid="$(pid_of "$1")"; [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }
check_node() { [[ "${1:-}" =~ ^[1-9]$ ]] && (( $1 <= NODES )) || die "no node '${1:-}' (1..$NODES)"; }

# The binary: TWINSTORE_BIN, or the release build, rebuilt when a source is newer.
source "$REPO/scripts/binary.sh"
binary() { twinstore_binary || die "no twinstore binary to run"; }

# The client's view of the nodes: with TLS, checked by the CA, with an Admin token.
ts() {
  if [[ -n "$INSECURE" ]]; then "$BIN" "$@"; else "$BIN" --ca "$(ca)" --token "$(token)" "$@"; fi
}
ca() { echo "$(cd "$CERTS" && pwd)/ca.pem"; }
TOKEN=""
token() {
  if [[ -z "$TOKEN" ]]; then
    ensure_token_key
    TOKEN="$("$BIN" token issue --key "$CERTS/token-signing.pem" --role Admin --ttl 12h \
      --subject cluster.sh)" || die "cannot issue a token with $CERTS/token-signing.pem"
  fi
  echo "$TOKEN"
}

# The key pair tokens are signed and verified with (`twinstore token keygen`), once.
ensure_token_key() {
  mkdir -p "$CERTS"
  if [[ ! -f "$CERTS/token-verify.pem" ]]; then
    "$BIN" token keygen --out "$CERTS" >/dev/null || die "cannot make a token key in $CERTS"
  fi
}

# The CA (once), the token key and node N's certificate, made with `twinstore` when missing.
ensure_certs() {
  local n="$1"
  [[ -n "$INSECURE" ]] && return 0
  mkdir -p "$CERTS"
  if [[ ! -f "$CERTS/ca.pem" ]]; then
    "$BIN" certs init --dir "$CERTS" >/dev/null || die "cannot make a CA in $CERTS"
  fi
  ensure_token_key
  if [[ ! -f "$CERTS/node-$REGION-$n.pem" ]]; then
    "$BIN" certs node --dir "$CERTS" --id "$n" --region "$REGION" --addr "127.0.$OCTET.$n" \
      >/dev/null || die "cannot make node $n's certificate in $CERTS"
  fi
}

# A comma-separated list as a TOML array of strings.
toml_list() {
  local quoted="" p
  for p in ${1//,/ }; do quoted+="${quoted:+, }\"$p\""; done
  echo "[$quoted]"
}

write_config() {
  local n="$1"
  {
    echo "# written by scripts/cluster.sh; \`twinstore node --config $DIR/node$n.toml\`"
    echo "id = $n"
    echo "region = \"$REGION\""
    echo "data = \"node$n\""
    echo "listen = \"127.0.$OCTET.$n:$PORT\""
    echo "peers = $(toml_list "$2")"
    echo "cache_mb = 64"
    [[ -z "$STANDBY" ]] || echo "standby = $(toml_list "$STANDBY")"
    [[ -z "$STANDBY_OF" ]] || echo "standby_of = $(toml_list "$STANDBY_OF")"
    if [[ -z "$INSECURE" ]]; then
      local certs; certs="$(cd "$CERTS" && pwd)"
      echo "tls_ca = \"$certs/ca.pem\""
      echo "tls_cert = \"$certs/node-$REGION-$n.pem\""
      echo "tls_key = \"$certs/node-$REGION-$n-key.pem\""
      echo "token_key = [\"$certs/token-verify.pem\"]"
    fi
    [[ -z "$EXTRA_CONFIG" ]] || printf '%s\n' "$EXTRA_CONFIG"
  } > "$DIR/node$n.toml"
}

start_node() {
  local n="$1" log before
  log="$DIR/node$n.log"
  if running "$n"; then echo "node $n already runs (pid $(pid_of "$n"))"; return; fi
  ensure_certs "$n"
  [[ -f "$DIR/node$n.toml" ]] || write_config "$n" "$(peers)"
  touch "$log"
  before=$(wc -l < "$log")
  echo "--- $(date '+%F %T') starting node $n" >> "$log"
  # The node's settings are its file alone: this script's own TWINSTORE_REGION, _STANDBY and
  # _STANDBY_OF would otherwise reach the node, whose environment wins over its file.
  nohup env -u TWINSTORE_REGION -u TWINSTORE_STANDBY -u TWINSTORE_STANDBY_OF \
    "$BIN" node --config "$DIR/node$n.toml" >> "$log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$DIR/node$n.pid"
  local waited=0
  until tail -n +"$((before + 1))" "$log" | grep -q "twinstore node listening on"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$DIR/node$n.pid"
      echo "node $n exited at start; the end of $log:" >&2
      tail -n 5 "$log" >&2
      exit 1
    fi
    (( waited++ < START_WAIT * 10 )) || die "node $n did not listen within ${START_WAIT}s (see $log)"
    sleep 0.1
  done
  echo "node $n: pid $pid, $(url "$n"), log $log"
}

stop_node() {
  local n="$1" pid waited=0
  pid="$(pid_of "$n")"
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then rm -f "$DIR/node$n.pid"; return; fi
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited++ >= STOP_WAIT * 10 )); then
      echo "node $n did not stop within ${STOP_WAIT}s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$DIR/node$n.pid"
  echo "node $n stopped"
}

wait_for_leader() {
  local waited=0 need="$1"
  until ts --endpoint "$(endpoints)" --output json cluster status 2>/dev/null \
      | grep -q '"settled":true'; do
    (( waited++ < START_WAIT * 5 )) || { echo "no leader within ${START_WAIT}s" >&2; return 1; }
    sleep 0.2
  done
  # Every running node answers.
  local reachable
  reachable=$(ts --endpoint "$(endpoints)" --output json cluster status 2>/dev/null \
    | grep -o '"reachable":[0-9]*' | tail -1 | cut -d: -f2 || true)
  (( ${reachable:-0} >= need )) || echo "only ${reachable:-0} of $need nodes answer yet" >&2
}

cmd_up() {
  binary
  mkdir -p "$DIR"
  touch "$DIR/$MARKER"
  local n
  for ((n = 1; n <= NODES; n++)); do start_node "$n"; done
  wait_for_leader "$NODES" || true
  cmd_status
  echo
  echo "export TWINSTORE_ENDPOINT=$(endpoints)"
  [[ -n "$INSECURE" ]] || echo "export TWINSTORE_CA=$(ca) TWINSTORE_TOKEN=$(token)"
}

cmd_status() {
  binary
  local n
  for ((n = 1; n <= NODES; n++)); do
    if running "$n"; then echo "node $n: running, pid $(pid_of "$n")"; else echo "node $n: stopped"; fi
  done
  echo
  ts --endpoint "$(endpoints)" cluster status "$@" || true
}

cmd_down() {
  local n
  for ((n = 1; n <= NODES; n++)); do stop_node "$n"; done
}

cmd_kill() {
  check_node "${1:-}"
  local pid; pid="$(pid_of "$1")"
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$DIR/node$1.pid"
    die "node $1 is not running"
  fi
  kill -KILL "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null && (( waited++ < 50 )); do sleep 0.1; done
  rm -f "$DIR/node$1.pid"
  echo "node $1 (pid $pid) killed with SIGKILL"
}

cmd_restart() {
  check_node "${1:-}"
  binary
  stop_node "$1"
  start_node "$1"
}

cmd_clean() {
  cmd_down
  if [[ -d "$DIR" ]]; then
    [[ -f "$DIR/$MARKER" ]] || die "$DIR was not made by cluster.sh; not deleting it"
    rm -rf "$DIR"
    echo "deleted $DIR"
  fi
}

cmd_logs() {
  check_node "${1:-}"
  tail -n "${2:-40}" "$DIR/node$1.log"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) shift; cmd_status "$@" ;;
  kill) cmd_kill "${2:-}" ;;
  restart) cmd_restart "${2:-}" ;;
  clean) cmd_clean ;;
  logs) cmd_logs "${2:-}" "${3:-40}" ;;
  token) binary; [[ -z "$INSECURE" ]] || die "no tokens: TWINSTORE_CLUSTER_INSECURE is set"; token ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
