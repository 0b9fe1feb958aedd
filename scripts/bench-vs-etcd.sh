#!/usr/bin/env bash
# twinstore and etcd side by side on this machine, in one run, with one load generator
# (`twinstore bench --target twinstore|etcd`): the same workloads, clients, connections and report.
#
#   scripts/bench-vs-etcd.sh [--duration 10s] [--clients 64] [--tls] [--keep]
#
#   --duration D   how long each of the 8 measurements runs [10s]; the whole run takes about
#                  8 x D plus a minute of setup
#   --clients N    the clients of the peak-write measurement (a) [64]
#   --tls          twinstore as it is deployed by default: TLS, mutual TLS between its nodes and
#                  a bearer token on every call; without it twinstore's nodes are plaintext and
#                  open, like the etcd members
#   --keep         keep the logs and JSON reports (their directory is printed); data is deleted
#
# It starts, on loopback only:
#   - etcd: 3 members on 127.0.0.1, client ports 8379/8389/8399, peer ports 8380/8390/8400, data
#     in a temporary directory, --quota-backend-bytes 4 GiB, logs to files. Debian's etcd-server
#     and etcd-client (etcdctl) are installed with apt-get when etcd is missing.
#   - twinstore: a 3-node region on 127.0.1.1-3:7501 through scripts/cluster.sh, with the release
#     binary (built when older than the sources, see scripts/binary.sh; or $TWINSTORE_BIN).
# and measures, each for --duration, twinstore first, then etcd, 1 KiB values on 1000 keys:
#   (a) peak durable writes: put, --clients N over 8 connections, closed loop (writes/s, p50, p99,
#       p99.9 and the slowest request)
#   (b) single-client put
#   (c) single-client linearizable get
#   (d) single-client serializable get (twinstore: --consistency local)
# then prints one table with both figures and the ratio twinstore/etcd. Everything it started is
# stopped on exit, however it exits.
#
# etcd's connections go round robin over its members (an etcd follower forwards a write, or a
# linearizable read's ReadIndex, to its leader itself); twinstore's client finds the leader.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION=10s
CLIENTS=64
CONNS=8
KEYS=1000
VALUE_SIZE=1024
KEEP=0
TLS=0
ETCD_CLIENT_PORTS=(8379 8389 8399)
ETCD_PEER_PORTS=(8380 8390 8400)
TWINSTORE_PORT=7501
START_WAIT=30    # seconds each cluster may take to become ready

die() { echo "bench-vs-etcd.sh: $*" >&2; exit 1; }
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

while (( $# )); do
  case "$1" in
    --duration) DURATION="${2:-}"; shift 2 || usage ;;
    --duration=*) DURATION="${1#*=}"; shift ;;
    --clients) CLIENTS="${2:-}"; shift 2 || usage ;;
    --clients=*) CLIENTS="${1#*=}"; shift ;;
    --keep) KEEP=1; shift ;;
    --tls) TLS=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
case "$DURATION" in
  *[0-9]s|*[0-9]) SECS="${DURATION%s}" ;;
  *[0-9]m) SECS=$(( ${DURATION%m} * 60 )) ;;
  *) die "--duration: use seconds or minutes, e.g. 10s or 2m, not '$DURATION'" ;;
esac
[[ "$SECS" =~ ^[0-9]+$ ]] && (( SECS >= 1 && SECS <= 3600 )) || die "--duration must be 1s..60m"
[[ "$CLIENTS" =~ ^[0-9]+$ ]] && (( CLIENTS >= 1 && CLIENTS <= 10000 )) \
  || die "--clients must be 1..10000"
(( CLIENTS >= CONNS )) || CONNS="$CLIENTS"
BENCH_TIMEOUT=$(( SECS + 180 ))   # one measurement, its key preparation included

# Packages: etcd and etcdctl (Debian's etcd 3.4), jq for the reports.
missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if (( ${#missing[@]} )); then
  (( EUID == 0 )) || die "missing ${missing[*]}: run as root, or apt-get install them first"
  echo "installing ${missing[*]} (apt-get) ..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
ETCD_VERSION="$(etcd --version | sed -n 's/^etcd Version: //p')"

source "$REPO/scripts/binary.sh"
twinstore_binary || die "no twinstore binary to run"

# Refuse to start on ports something else listens on (bash's /dev/tcp: no extra tool).
port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
for p in "${ETCD_CLIENT_PORTS[@]}" "${ETCD_PEER_PORTS[@]}"; do
  ! port_busy 127.0.0.1 "$p" || die "127.0.0.1:$p is in use"
done
for n in 1 2 3; do
  ! port_busy "127.0.1.$n" "$TWINSTORE_PORT" || die "127.0.1.$n:$TWINSTORE_PORT is in use"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-vs-etcd.XXXXXX")"
TS_DIR="$WORK/twinstore"
ETCD_PIDS=()
BENCH_PID=""
if (( TLS )); then SCHEME=https; INSECURE=""; else SCHEME=http; INSECURE=1; fi
cluster() { TWINSTORE_CLUSTER_DIR="$TS_DIR" TWINSTORE_BASE_PORT="$TWINSTORE_PORT" \
  TWINSTORE_CLUSTER_INSECURE="$INSECURE" TWINSTORE_BIN="$BIN" "$REPO/scripts/cluster.sh" "$@"; }

cleanup() {
  local rc=$? pid waited
  set +e
  trap - EXIT INT TERM
  if [[ -n "$BENCH_PID" ]]; then kill -TERM "$BENCH_PID" 2>/dev/null; wait "$BENCH_PID" 2>/dev/null; fi
  for pid in "${ETCD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${ETCD_PIDS[@]}"; do
    waited=0
    while kill -0 "$pid" 2>/dev/null && (( waited++ < 100 )); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  [[ -d "$TS_DIR" ]] && cluster down >/dev/null 2>&1
  if (( KEEP )); then
    rm -rf "$WORK"/etcd[0-9] "$TS_DIR"/node[0-9]
    echo "logs and reports kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- etcd: 3 members on 127.0.0.1
ETCD_EPS="" INITIAL=""
for i in 0 1 2; do
  ETCD_EPS+="${ETCD_EPS:+,}http://127.0.0.1:${ETCD_CLIENT_PORTS[i]}"
  INITIAL+="${INITIAL:+,}m$((i + 1))=http://127.0.0.1:${ETCD_PEER_PORTS[i]}"
done
echo "starting etcd $ETCD_VERSION: 3 members, $ETCD_EPS" >&2
for i in 0 1 2; do
  c="http://127.0.0.1:${ETCD_CLIENT_PORTS[i]}" p="http://127.0.0.1:${ETCD_PEER_PORTS[i]}"
  etcd --name "m$((i + 1))" --data-dir "$WORK/etcd$((i + 1))" \
    --listen-client-urls "$c" --advertise-client-urls "$c" \
    --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" \
    --initial-cluster "$INITIAL" --initial-cluster-state new \
    --initial-cluster-token "bench-vs-etcd-$$" \
    --quota-backend-bytes $(( 4 * 1024 * 1024 * 1024 )) \
    --logger zap --log-outputs stderr \
    > "$WORK/etcd$((i + 1)).log" 2>&1 < /dev/null &
  ETCD_PIDS+=($!)
done
waited=0
until ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EPS" --dial-timeout 1s endpoint health \
    >/dev/null 2>&1; do
  for pid in "${ETCD_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "an etcd member exited at start (see $WORK/etcd*.log; --keep keeps them)"
  done
  (( waited++ < START_WAIT * 5 )) || die "etcd was not healthy within ${START_WAIT}s"
  sleep 0.2
done

# --- twinstore: a 3-node region on 127.0.1.1-3
echo "starting twinstore: 3 nodes on 127.0.1.1-3:$TWINSTORE_PORT ($BIN)" >&2
cluster up > "$WORK/cluster-up.log" 2>&1 || { cat "$WORK/cluster-up.log" >&2; die "twinstore did not start"; }
TS_EPS="$SCHEME://127.0.1.1:$TWINSTORE_PORT,$SCHEME://127.0.1.2:$TWINSTORE_PORT,$SCHEME://127.0.1.3:$TWINSTORE_PORT"
if (( TLS )); then
  # As a secure deployment is used: TLS, and a token on every call.
  export TWINSTORE_CA="$TS_DIR/certs/ca.pem"
  TWINSTORE_TOKEN="$(cluster token)" || die "cannot issue a token"
  export TWINSTORE_TOKEN
else
  unset TWINSTORE_CA TWINSTORE_TOKEN
fi
waited=0
until "$BIN" --endpoint "$TS_EPS" --output json cluster status 2>/dev/null \
    | jq -e '.settled == true and .reachable >= 3' >/dev/null; do
  (( waited++ < START_WAIT * 5 )) || die "twinstore had no leader within ${START_WAIT}s"
  sleep 0.2
done

# --- the measurements: bench NAME TARGET ARGS... writes $WORK/NAME-TARGET.json
bench() {
  local name="$1" target="$2" eps
  shift 2
  if [[ "$target" == etcd ]]; then eps="$ETCD_EPS"; else eps="$TS_EPS"; fi
  echo "  $name, $target: bench $*" >&2
  # In the background and waited for, so that a signal to this script is handled at once.
  timeout "$BENCH_TIMEOUT" "$BIN" --endpoint "$eps" --output json bench --target "$target" \
      --keys "$KEYS" --value-size "$VALUE_SIZE" --duration "${SECS}s" "$@" \
      > "$WORK/$name-$target.json" 2> "$WORK/$name-$target.err" &
  BENCH_PID=$!
  wait "$BENCH_PID" \
    || { cat "$WORK/$name-$target.err" >&2; die "the $name measurement of $target failed"; }
  BENCH_PID=""
}
both() { local name="$1"; shift; bench "$name" twinstore "$@"; bench "$name" etcd "$@"; }

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "measuring, ${SECS}s each ..." >&2
both a --workload put --clients "$CLIENTS" --conns "$CONNS"
both b --workload put --clients 1 --conns 1
both c --workload get --consistency linearizable --clients 1 --conns 1
both d --workload get --consistency local --clients 1 --conns 1

# --- the table
field() { jq -r "$2" "$WORK/$1.json"; }
row() {  # row LABEL NAME JQ-FIELD
  local t e
  t="$(field "$2-twinstore" "$3")" e="$(field "$2-etcd" "$3")"
  awk -v l="$1" -v t="$t" -v e="$e" 'BEGIN {
    r = (e + 0 > 0) ? sprintf("%.2f", t / e) : "n/a";
    printf "| %-58s | %12s | %12s | %14s |\n", l, t, e, r }'
}
failed() { field "$1-twinstore" .failed; field "$1-etcd" .failed; }

echo
echo "twinstore ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')) vs etcd $ETCD_VERSION," \
  "3 nodes each on loopback (twinstore $( ((TLS)) && echo "over mutual TLS, with tokens" || echo plaintext)), $(nproc) CPU(s), $(free -h | awk '/^Mem:/ {print $2}') memory," \
  "$(date -u '+%F'), ${SECS}s per measurement, 1 KiB values on $KEYS keys;" \
  "load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf "| %-58s | %12s | %12s | %14s |\n" measurement twinstore "etcd" "twinstore/etcd"
printf "|%s|%s|%s|%s|\n" "$(printf -- '-%.0s' {1..60})" "$(printf -- '-%.0s' {1..14})" \
  "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..16})"
row "(a) put, $CLIENTS clients / $CONNS conns: writes/s" a .ops_per_sec
row "(a) put, $CLIENTS clients / $CONNS conns: p50 ms" a .latency_ms.p50
row "(a) put, $CLIENTS clients / $CONNS conns: p99 ms" a .latency_ms.p99
row "(a) put, $CLIENTS clients / $CONNS conns: p99.9 ms" a .latency_ms.p99_9
row "(a) put, $CLIENTS clients / $CONNS conns: max ms" a .latency_ms.max
row "(b) put, 1 client: p50 ms" b .latency_ms.p50
row "(b) put, 1 client: writes/s" b .ops_per_sec
row "(c) linearizable get, 1 client: p50 ms" c .latency_ms.p50
row "(c) linearizable get, 1 client: reads/s" c .ops_per_sec
row "(d) serializable (twinstore: local) get, 1 client: p50 ms" d .latency_ms.p50
row "(d) serializable (twinstore: local) get, 1 client: reads/s" d .ops_per_sec
echo
errs=""
for m in a b c d; do
  read -r ft fe < <(failed "$m" | xargs)
  (( ft + fe == 0 )) || errs+=" ($m) twinstore $ft, etcd $fe;"
done
if [[ -n "$errs" ]]; then echo "failed operations:$errs"; else echo "failed operations: none"; fi
