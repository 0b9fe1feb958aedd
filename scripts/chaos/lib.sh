# Shared by the chaos scripts: a script sets its defaults (DURATION, SEED, and any OPTIONS), then
# runs `source "$(dirname "$0")/lib.sh" "$@"`, which parses the flags. It gives:
#
#   chaos_start [pair]    a 3-node primary region (and with `pair` its 3-node standby region) run
#                         by scripts/cluster.sh in a temporary directory, then the recorded
#                         workload against the primary in the background for DURATION seconds
#   chaos_leader          the primary region's leader id (empty when there is none)
#   chaos_finish NAME WHAT  waits for the workload, quiesces, checks, prints the report
#
# Everything (node processes, nftables rules, paused processes, data) is cleaned up on exit, also
# on Ctrl-C or a failure. Every wait is bounded. The primary region's node N listens on
# 127.0.1.N, the standby's on 127.0.2.N, each binding its outgoing connections to that address,
# so faults can be injected per link with nftables.
#
# Environment:
#   TWINSTORE_BIN            the binary [target/release/twinstore, built if missing or stale]
#   TWINSTORE_CHAOS_SUMMARY  a file to append the scenario's one-line result to (all.sh uses it)
#   TWINSTORE_CHAOS_KEEP     when set, the histories, outputs and node logs are kept also when the
#                            run passes (a failed run's always are), in /tmp/twinstore-chaos-*
set -eEuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# The flags: --duration SECONDS, --seed N, and --NAME VALUE for each NAME in the script's OPTIONS
# (which sets the variable NAME in capitals); the script sets the defaults before sourcing.
chaos_usage() {
  local o extra=""
  for o in ${OPTIONS:-}; do extra+=" [--$o ${o^^}]"; done
  echo "usage: $0 [--duration SECONDS] [--seed N]$extra" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || chaos_usage
  case "$1" in
    --duration) DURATION="$2" ;;
    --seed) SEED="$2" ;;
    --*) [[ " ${OPTIONS:-} " == *" ${1#--} "* ]] || chaos_usage
         [[ "$2" =~ ^[0-9]+$ ]] || { echo "$1 takes a whole number, not '$2'" >&2; exit 2; }
         printf -v "$(echo "${1#--}" | tr a-z A-Z)" '%s' "$2" ;;
    *) chaos_usage ;;
  esac
  shift 2
done
[[ "$DURATION" =~ ^[0-9]+$ ]] && (( DURATION >= 5 )) || { echo "--duration must be at least 5 (seconds)" >&2; exit 2; }
[[ "$SEED" =~ ^[0-9]+$ ]] || { echo "--seed must be a whole number" >&2; exit 2; }
if ! command -v jq >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "the chaos scripts need jq (apt-get install jq)" >&2; exit 2; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >/dev/null; } \
    || { echo "cannot install jq" >&2; exit 2; }
fi
WORK="$(mktemp -d /tmp/twinstore-chaos.XXXXXX)"
# Below the kernel's ephemeral port range, so a restarted node's port is never taken by an
# outgoing connection in the meantime.
PORT="${TWINSTORE_BASE_PORT:-$(( 10000 + (SEED * 97 + $$) % 20000 ))}"
source scripts/binary.sh
twinstore_binary || exit 2
export TWINSTORE_BIN="$BIN" TWINSTORE_BASE_PORT="$PORT"
# Secure, as a deployment is by default: one CA and one token key for both regions (cluster.sh
# makes the node certificates there), every client command checks the nodes by the CA and sends
# an Admin token.
export TWINSTORE_CLUSTER_CERTS="$WORK/certs" TWINSTORE_CA="$WORK/certs/ca.pem"
TWINSTORE_TOKEN="$(TWINSTORE_CLUSTER_DIR="$WORK/primary" scripts/cluster.sh token)" \
  || { echo "cannot issue a token" >&2; exit 2; }
export TWINSTORE_TOKEN
urls() { echo "https://127.0.$1.1:$PORT,https://127.0.$1.2:$PORT,https://127.0.$1.3:$PORT"; }
EP="$(urls 1)"
STANDBY_EP="$(urls 2)"
HISTORY="$WORK/history.jsonl"
# Twins shared by the clients: few, for many conflicts, but more in longer runs so that no key's
# history outgrows what the checker searches (4096 operations a key).
KEYS=$(( DURATION > 60 ? DURATION * 24 / 60 : 24 ))
CLIENTS=6
PAIR=0
NFT_TABLE="twinstore_chaos_$$"
NFT_USED=0

# scripts/cluster.sh for region `primary` or `standby` (each in its own directory).
region() {
  local name="$1"; shift
  if [ "$name" = primary ]; then
    TWINSTORE_CLUSTER_DIR="$WORK/primary" TWINSTORE_REGION=primary \
      TWINSTORE_STANDBY="$( ((PAIR)) && echo "$STANDBY_EP" || true)" scripts/cluster.sh "$@"
  else
    TWINSTORE_CLUSTER_DIR="$WORK/standby" TWINSTORE_REGION=standby \
      TWINSTORE_STANDBY_OF="$EP" scripts/cluster.sh "$@"
  fi
}

chaos_cleanup() {
  local code=$?
  trap - EXIT INT TERM
  [ -n "${WORKLOAD:-}" ] && kill "$WORKLOAD" 2>/dev/null || true
  ((NFT_USED)) && nft delete table inet "$NFT_TABLE" 2>/dev/null || true
  # A paused node must be resumed to be stopped.
  for f in "$WORK"/*/node*.pid; do [ -f "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null || true; done
  if { ((code)) && ((code != 130)) || [ -n "${TWINSTORE_CHAOS_KEEP:-}" ]; } && [ -d "$WORK" ]; then
    # Keep the logs of a failed run (or of any run, when asked) where they can be read.
    local keep="/tmp/twinstore-chaos-$( ((code)) && echo failed || echo kept )-$$"
    mkdir -p "$keep"
    cp "$WORK"/*.jsonl "$WORK"/*.json "$WORK"/*.out "$keep"/ 2>/dev/null || true
    for f in "$WORK"/*/node*.log; do [ -f "$f" ] && cp "$f" "$keep/$(basename "$(dirname "$f")")-$(basename "$f")"; done
    echo "the history, outputs and node logs of this run are in $keep" >&2
  fi
  region primary clean >/dev/null 2>&1 || true
  ((PAIR)) && region standby clean >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$code"
}
trap chaos_cleanup EXIT
# A command that fails stops the scenario (set -e): say which, so a failed run explains itself.
trap 'echo "chaos: ${BASH_SOURCE[0]##*/} line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR
trap 'exit 130' INT TERM

# The highest raft term in the primary region (each election raises it).
chaos_term() {
  "$BIN" --endpoint "$EP" --output json cluster status 2>/dev/null \
    | jq '[.nodes[] | select(.reachable) | .term] | max // 0' 2>/dev/null || echo 0
}

# Starts the region(s) and the workload (for DURATION seconds) in the background.
chaos_start() {
  [ "${1:-}" = pair ] && PAIR=1
  mkdir -p "$WORK/primary" "$WORK/standby"
  region primary up >/dev/null
  ((PAIR)) && region standby up >/dev/null
  TERM0=$(chaos_term)
  START_NS=$(date +%s%N)
  chaos_workload "$EP" "${WORKLOAD_SECONDS:-$DURATION}" "$HISTORY" 0
  RANDOM=$SEED
}

# Runs the workload against ENDPOINTS for SECONDS in the background (its pid in WORKLOAD), writing
# HISTORY; its times count from START_NS, and its clients are numbered from CLIENT_BASE (so two
# workloads of one run write distinct values and share one timeline).
chaos_workload() {
  local endpoints="$1" seconds="$2" history="$3" base="$4"
  "$BIN" --endpoint "$endpoints" --output json chaos workload --clients "$CLIENTS" --keys "$KEYS" \
    --duration "${seconds}s" --seed "$SEED" --history "$history" --timeout 3s \
    --t0-ns "$START_NS" --client-base "$base" > "${history%.jsonl}.out" &
  WORKLOAD=$!
}

# The current leader's id in the primary region, or nothing.
chaos_leader() {
  "$BIN" --endpoint "$EP" --output json cluster status 2>/dev/null \
    | jq -r '[.nodes[] | select(.is_leader) | .id] | first // empty' 2>/dev/null || true
}

# The pid of node N of the primary region (empty when it is not running).
chaos_pid() { cat "$WORK/primary/node$1.pid" 2>/dev/null || true; }

# Kills every node of region $1 with SIGKILL at the same moment (a region outage). Their pid files
# stay: `region NAME restart N` waits for a dying process to be gone before starting it again.
chaos_kill_region() {
  local pids=() n pid
  for n in 1 2 3; do
    pid=$(cat "$WORK/$1/node$n.pid" 2>/dev/null || true)
    [ -n "$pid" ] && pids+=("$pid")
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# Kills node $1 of the primary region with SIGKILL (a crash), records the fault, and waits
# (bounded) until the process is gone. Fails when the node does not run.
chaos_kill() {
  local pid; pid=$(chaos_pid "$1")
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || return 1
  chaos_fault
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$WORK/primary/node$1.pid"
}

# Records that a fault is injected now (on the workload's timeline), for the report's "writes back
# after each fault".
chaos_fault() { echo $(( $(date +%s%N) - START_NS )) >> "$WORK/faults.txt"; }

# Sleeps a random whole number of seconds in [LOW, HIGH] (the seeded schedule).
chaos_sleep() { sleep $(( $1 + RANDOM % ($2 - $1 + 1) )); }

# The seconds left before the workload ends (never negative).
chaos_left() {
  local left=$(( (START_NS / 1000000000) + DURATION - $(date +%s) ))
  echo $(( left > 0 ? left : 0 ))
}

# Installs nftables if missing (needs root) and creates this run's table with an output chain.
chaos_nft_init() {
  if ! command -v nft >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "partition faults need root (nftables)" >&2; exit 2; }
    echo "installing nftables ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables >/dev/null; } \
      || { echo "cannot install nftables" >&2; exit 2; }
  fi
  nft add table inet "$NFT_TABLE"
  NFT_USED=1
  nft add chain inet "$NFT_TABLE" out '{ type filter hook output priority 0; policy accept; }'
}

# Drops every packet from node A to node B of the primary region (one way).
chaos_cut() { nft add rule inet "$NFT_TABLE" out ip saddr "127.0.1.$1" ip daddr "127.0.1.$2" drop; }

# Removes every rule: all links work again.
chaos_heal() { ((NFT_USED)) && nft flush chain inet "$NFT_TABLE" out || true; }

# The URLs of region `primary` or `standby` (by their names at the start: after a failover the
# region named standby is the primary).
region_ep() { if [ "$1" = primary ]; then echo "$EP"; else echo "$STANDBY_EP"; fi; }

# Waits (bounded) until every node of region $1 runs, one leader leads them all and they have
# applied the same index. Restarts nodes a fault left down first.
chaos_settle() {
  local name="$1" n ok=0 pid
  for n in 1 2 3; do
    pid=$(cat "$WORK/$name/node$n.pid" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      region "$name" restart "$n" >/dev/null
    fi
  done
  for _ in $(seq 1 120); do
    if "$BIN" --endpoint "$(region_ep "$name")" --output json cluster status 2>/dev/null | jq -e '
        [.nodes[] | select(.reachable)] as $up
        | ($up | length) == 3
          and ([$up[] | .last_applied_index] | unique | length) == 1
          and ([$up[] | .leader_id] | unique | length) == 1
          and ($up[0].leader_id > 0)' >/dev/null 2>&1; then
      ok=1; break
    fi
    sleep 0.5
  done
  ((ok)) || { echo "STUCK: region $name did not settle within 60 s" >&2; return 1; }
}

# Settles the region(s), then waits (bounded) until the standby has caught up. Fails when stuck.
chaos_quiesce() {
  local ok=0
  chaos_settle primary || return 1
  ((PAIR)) || return 0
  chaos_settle standby || return 1
  for _ in $(seq 1 120); do
    if "$BIN" --endpoint "$EP,$STANDBY_EP" --output json dr status 2>/dev/null \
        | jq -e '.caught_up' >/dev/null 2>&1; then
      ok=1; break
    fi
    sleep 0.5
  done
  ((ok)) || { echo "STUCK: the standby did not catch up within 60 s" >&2; return 1; }
}

# Waits for the workload, quiesces, runs the checker (against the primary, and the standby when
# there is one) and prints the report; exits with the checker's verdict (0: pass).
chaos_finish() {
  local name="$1" faults="$2" code=0 stuck=0
  wait "$WORKLOAD" || { echo "the workload failed: $(cat "$WORK"/*.out)" >&2; exit 1; }
  WORKLOAD=""
  chaos_quiesce || stuck=1
  local also=() lag="-"
  if ((PAIR)); then
    also=(--also "$SECOND_EP")
    lag=$("$BIN" --endpoint "$EP,$STANDBY_EP" --output json dr status 2>/dev/null \
      | jq -r '"p50 \(.lag_p50_ms // 0 | floor) ms, p99 \(.lag_p99_ms // 0 | floor) ms"' || echo "?")
  fi
  local elections=$(( $(chaos_term) - TERM0 ))
  [ -z "${BEFORE_CHECK:-}" ] || "$BEFORE_CHECK"
  [ -f "$WORK/faults.txt" ] && CHECK_ARGS+=(--faults "$WORK/faults.txt")
  "$BIN" --endpoint "$FIRST_EP" --output json chaos check "${HISTORIES[@]}" --keys "$KEYS" "${also[@]}" \
    "${CHECK_ARGS[@]}" > "$WORK/check.json" || code=$?
  ((stuck)) && code=1
  local verdict
  verdict=$(jq -r 'if .verdict then .verdict else "error" end' "$WORK/check.json" 2>/dev/null || echo error)
  ((stuck)) && verdict="stuck"
  echo "== $name (seed $SEED, ${DURATION}s): $faults"
  jq -r '"   operations \(.operations): ok \(.ok), failed \(.failed), unknown \(.unknown)
   longest write unavailability \(.longest_unavailable_ms) ms\(if (.recovery_ms | length) > 0 then "
   writes back after each fault: max \(.recovery_max_ms // "never") ms (each: \(.recovery_ms | map(if . == null then "never" else "\(.)" end) | join(", ")) ms)" else "" end)\(if .reported_lost > 0 then "
   acknowledged writes lost in the forced failover and reported by it (dr divergent): \(.reported_lost)" else "" end)"' "$WORK/check.json" 2>/dev/null \
    || cat "$WORK/check.json"
  echo "   elections (raft term increase) $elections; standby lag ${lag}"
  [ -n "${EXTRA_REPORT:-}" ] && echo "   $EXTRA_REPORT"
  echo "   verdict: $verdict"
  if [ "$verdict" != pass ]; then
    jq -r '.violations[]? | "   violation on \(.key): \(.ops | length) operations:", (.ops[] | "     \(.)")' \
      "$WORK/check.json" 2>/dev/null | head -60 || true
    jq -r '.unreachable[]? | "   unreachable at check: \(.)"' "$WORK/check.json" 2>/dev/null || true
  fi
  if [ -n "${TWINSTORE_CHAOS_SUMMARY:-}" ]; then
    jq -r --arg n "$name" --arg s "$SEED" --arg d "$DURATION" --arg e "$elections" \
      --arg l "$lag" --arg v "$verdict" \
      '[$n, $s, $d, .operations, .ok, .failed, .unknown, .longest_unavailable_ms, (.recovery_max_ms // "-"), $e, $l, $v] | @tsv' \
      "$WORK/check.json" >> "$TWINSTORE_CHAOS_SUMMARY" 2>/dev/null \
      || printf '%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t%s\t%s\t%s\n' "$name" "$SEED" "$DURATION" "$elections" "$lag" "$verdict" >> "$TWINSTORE_CHAOS_SUMMARY"
  fi
  [ "$verdict" = pass ] || exit 1
  exit "$code"
}
CHECK_ARGS=()
HISTORIES=("$HISTORY")
# The region checked first (the primary at the end) and the other one.
FIRST_EP="$EP"
SECOND_EP="$STANDBY_EP"
