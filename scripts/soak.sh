#!/usr/bin/env bash
# A soak of a three-node region: minutes of writes at peak (closed loop) or at a fixed rate, in
# one-minute rounds, to show that the region stays steady — no election, flat throughput, disk and
# memory that follow the live data rather than the number of writes made.
#
#   scripts/soak.sh [--minutes N] [--clients N] [--conns N] [--rate R] [--keys N] [--value-size B]
#                   [--cache MIB] [--keep]
#
# Each round is `twinstore bench --workload put --duration 60s` over the same key space (so the
# live data stays the same size while the writes pile up). After each round it prints one line:
# the round's writes/s and p99, the leader's raft term (a change is an election), the disk used by
# each node's data directory and each node's RSS. At the end it checks the issue's targets and
# exits non-zero when one fails:
#   - the raft term never changed;
#   - the last round's writes/s is at least 90% of the first's;
#   - disk per node at most 3 x (live data + retained log), where the live data is the node's
#     current raft snapshot (the graph and the dedupe table: what the state machine must keep) and
#     the retained log is its WAL directory — so the bound is on what sled adds on top;
#   - RSS per node at most the page cache + 256 MiB.
#
# --rate R runs every round open loop at R writes/s (e.g. half of the peak a first run found).
# The region runs from the release build in a temporary directory on 127.0.1.1-3, port 7301;
# everything is stopped and deleted at the end (--keep keeps the directory and its logs).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES=10 CLIENTS=64 CONNS=8 RATE="" KEYS=1000 VALUE_SIZE=1024 CACHE_MIB=64 KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --keys) KEYS="$2"; shift 2 ;;
    --value-size) VALUE_SIZE="$2"; shift 2 ;;
    --cache) CACHE_MIB="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$MINUTES" =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: --minutes takes a whole number" >&2; exit 2; }
command -v jq >/dev/null || { echo "soak.sh: needs jq (apt-get install jq)" >&2; exit 2; }

# shellcheck source=binary.sh
source "$REPO/scripts/binary.sh"
twinstore_binary
export TWINSTORE_BIN="$BIN"
DIR="$(mktemp -d "${TMPDIR:-/tmp}/twinstore-soak.XXXXXX")"
export TWINSTORE_CLUSTER_DIR="$DIR" TWINSTORE_BASE_PORT=7301 TWINSTORE_NODES=3
export TWINSTORE_NODE_CONFIG="cache_mb = $CACHE_MIB"
# Plaintext, as the soak figures in the README were measured: it watches the store's disk,
# memory and elections, not the transport (scripts/bench-vs-etcd.sh --tls measures TLS's cost).
export TWINSTORE_CLUSTER_INSECURE=1
EP="http://127.0.1.1:7301,http://127.0.1.2:7301,http://127.0.1.3:7301"
cleanup() {
  "$REPO/scripts/cluster.sh" down >/dev/null 2>&1 || true
  if [[ $KEEP == 1 ]]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
"$REPO/scripts/cluster.sh" up >/dev/null

term() { "$BIN" --endpoint "$EP" cluster status --output json | jq -r '.term // empty'; }
disk_mib() { du -sm "$DIR/node$1" | cut -f1; }
# The node's live data (its current snapshot) and retained log (its WAL), in KiB.
live_kib() { du -sk "$DIR/node$1/db.snapshots" | cut -f1; }
wal_kib() { du -sk "$DIR/node$1/wal" | cut -f1; }
rss_mib() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$(cat "$DIR/node$1.pid")/status"; }

first_term="$(term)"
mode="closed loop, $CLIENTS clients"
[[ -n "$RATE" ]] && mode="open loop at $RATE writes/s"
echo "soak: $MINUTES x 60 s of 1 KiB puts over $KEYS keys, $mode; term $first_term at the start"
printf '%-6s %10s %9s %6s %s\n' round "writes/s" "p99 ms" term \
  "disk MiB (n1 n2 n3) / RSS MiB (n1 n2 n3) / node 1: snapshot + WAL MiB"
rates=()
max_disk=0 max_rss=0 disk_over=0 worst=
for ((round = 1; round <= MINUTES; round++)); do
  args=(--endpoint "$EP" --output json bench --workload put --duration 60s --clients "$CLIENTS"
        --conns "$CONNS" --keys "$KEYS" --value-size "$VALUE_SIZE")
  [[ -n "$RATE" ]] && args+=(--rate "$RATE")
  report="$("$BIN" "${args[@]}")"
  ops="$(jq -r '.ops_per_sec | floor' <<<"$report")"
  p99="$(jq -r '.latency_ms.p99' <<<"$report")"
  rates+=("$ops")
  disks="" rss=""
  for n in 1 2 3; do
    d="$(disk_mib "$n")"; r="$(rss_mib "$n")"
    disks+="$d "; rss+="$r "
    (( d > max_disk )) && max_disk=$d
    (( r > max_rss )) && max_rss=$r
    l=$(live_kib "$n") w=$(wal_kib "$n")
    bound=$(( 3 * (l + w) / 1024 ))
    if (( d > bound )); then disk_over=1; worst="node $n: $d MiB > $bound MiB"; fi
    if (( n == 1 )); then mine="$(( l / 1024 )) + $(( w / 1024 ))"; fi
  done
  printf '%-6s %10s %9s %6s %s/ %s/ %s\n' "$round" "$ops" "$p99" "$(term)" "$disks" "$rss" "$mine"
done

last_term="$(term)"
rss_bound=$(( CACHE_MIB + 256 ))
fail=0
check() { if eval "$2"; then echo "  ok    $1"; else echo "  FAIL  $1"; fail=1; fi; }
echo "targets:"
check "no election (term $first_term -> $last_term)" '[[ "$first_term" == "$last_term" ]]'
check "last round ${rates[-1]} writes/s >= 90% of the first ${rates[0]}" \
  '(( rates[-1] * 10 >= rates[0] * 9 ))'
check "disk per node <= 3 x (snapshot + WAL) after every round${worst:+ (not: $worst)}" \
  '(( disk_over == 0 ))'
check "RSS per node ${max_rss} MiB <= cache ${CACHE_MIB} + 256 = ${rss_bound} MiB" '(( max_rss <= rss_bound ))'
exit $fail
