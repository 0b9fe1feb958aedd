#!/usr/bin/env bash
# A DR drill: a planned failover to the standby region and back (failback), under a steady write
# load, through one endpoint list that names both regions' nodes, as an application would.
#
#   scripts/dr-drill.sh                  against a running `twinstore up` (TWINSTORE_ENDPOINT)
#   scripts/dr-drill.sh --start          start `twinstore up` in a temporary directory, stop it after
#
# Options:
#   --endpoint URL,..   both regions' nodes [$TWINSTORE_ENDPOINT]
#   --start             start a two-region deployment (twinstore up) for the drill, stop it after
#   --base-port PORT    with --start: the port of every node [7201]
#   --nodes N           with --start: nodes per region [3]
#   --rate OPS          the steady write load, puts per second [50]
#   --settle SECONDS    load before each failover and after the last one [3]
# Environment: TWINSTORE_BIN, the binary [target/release/twinstore, built if missing or stale];
# TWINSTORE_CA and TWINSTORE_TOKEN, the CA and a token of a secure deployment (`twinstore up`
# prints both; --start sets them).
#
# Steps: DR status (lag before); `twinstore bench --workload put --rate OPS` in the background;
# `dr failover --planned` (to the standby); a write through the same endpoint list must succeed
# and land in the new primary; wait for the old primary to follow; `dr failover --planned` back;
# a write again; the load ends and reads back a sample of its acknowledged writes; DR status (lag
# after). It prints the RPO (0: planned failovers lose nothing), each direction's write pause (as
# the server measured it, and the longest any client write waited), the lag before and after, and
# a verdict: PASS (exit 0) when both failovers succeeded with nothing lost, no write failed and
# the original primary is the primary again; FAIL (exit 1) otherwise. Every wait is bounded;
# whatever happens, the load (and a deployment it started) is stopped on exit or interrupt.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${TWINSTORE_BIN:-}"
ENDPOINT="${TWINSTORE_ENDPOINT:-}"
START=0
PORT=7201
NODES=3
RATE=50
SETTLE=3
START_WAIT=180    # seconds `twinstore up` may take to be ready
CATCH_UP_WAIT=60  # seconds a standby may take to catch up
STOP_WAIT=30      # seconds `twinstore up` may take to stop

die() { echo "dr-drill: $*" >&2; exit 2; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

while (( $# )); do
  case "$1" in
    --endpoint) ENDPOINT="${2:?--endpoint needs URLs}"; shift 2 ;;
    --start) START=1; shift ;;
    --base-port) PORT="${2:?}"; shift 2 ;;
    --nodes) NODES="${2:?}"; shift 2 ;;
    --rate) RATE="${2:?}"; shift 2 ;;
    --settle) SETTLE="${2:?}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "dr-drill: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$PORT" =~ ^[0-9]+$ ]] && (( PORT > 0 && PORT < 65536 )) || die "bad --base-port '$PORT'"
[[ "$NODES" =~ ^[1-9]$ ]] || die "--nodes must be 1..9, not '$NODES'"
[[ "$RATE" =~ ^[0-9]+$ ]] && (( RATE > 0 )) || die "--rate must be a whole number of puts/s"
[[ "$SETTLE" =~ ^[0-9]+$ ]] && (( SETTLE > 0 && SETTLE <= 600 )) || die "--settle must be 1..600"

# The binary: TWINSTORE_BIN, or the release build, rebuilt when a source is newer.
source "$REPO/scripts/binary.sh"
twinstore_binary || die "no twinstore binary to run"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/twinstore-drill.XXXXXX")"
UP_PID=""
BENCH_PID=""

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [[ -n "$BENCH_PID" ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  if [[ -n "$UP_PID" ]] && kill -0 "$UP_PID" 2>/dev/null; then
    echo "stopping the deployment (twinstore up, pid $UP_PID)"
    kill -TERM "$UP_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$UP_PID" 2>/dev/null; do
      if (( waited++ >= STOP_WAIT * 10 )); then
        echo "twinstore up did not stop within ${STOP_WAIT}s; killing it" >&2
        kill -KILL "$UP_PID" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
    wait "$UP_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT
trap 'echo "dr-drill: interrupted" >&2; exit 130' INT TERM

ts() { "$BIN" --endpoint "$ENDPOINT" "$@"; }

# The first value of "key" in a JSON text, outermost first (jq when there is one, else grep: the
# CLI's JSON has sorted keys, and the drill reads only keys whose first occurrence is the one it
# means).
field() {
  local json="$1" key="$2"
  if command -v jq >/dev/null 2>&1; then
    jq -r --arg k "$key" 'first(.. | objects | select(has($k)) | .[$k]) | select(. != null)' \
      <<<"$json" 2>/dev/null || true
  else
    grep -o "\"$key\":\(\"[^\"]*\"\|[^,}]*\)" <<<"$json" | head -1 | cut -d: -f2- | tr -d '"' || true
  fi
}

if (( START )); then
  echo "starting a two-region deployment: twinstore up --nodes $NODES --base-port $PORT (data in $WORK)"
  "$BIN" up --data "$WORK/data" --base-port "$PORT" --nodes "$NODES" > "$WORK/up.log" 2>&1 &
  UP_PID=$!
  waited=0
  until grep -q "Press Ctrl-C to stop." "$WORK/up.log" 2>/dev/null; do
    if ! kill -0 "$UP_PID" 2>/dev/null; then
      echo "twinstore up exited; the end of its output:" >&2
      tail -n 15 "$WORK/up.log" >&2
      UP_PID=""
      exit 1
    fi
    (( waited++ < START_WAIT * 10 )) || { tail -n 15 "$WORK/up.log" >&2; die "twinstore up was not ready within ${START_WAIT}s"; }
    sleep 0.1
  done
  ENDPOINT="$(sed -n 's/^ *export TWINSTORE_ENDPOINT=//p' "$WORK/up.log" | head -1)"
  # `up` is secure by default: the clients check the nodes by the CA it made and send its token.
  ca="$(sed -n 's/^ *export TWINSTORE_CA=//p' "$WORK/up.log" | head -1)"
  if [[ -n "$ca" ]]; then export TWINSTORE_CA="$ca"; fi
  token="$(sed -n 's/^ *export TWINSTORE_TOKEN=//p' "$WORK/up.log" | head -1)"
  if [[ -n "$token" ]]; then export TWINSTORE_TOKEN="$token"; fi
fi
[[ -n "$ENDPOINT" ]] || die "no endpoints: set TWINSTORE_ENDPOINT (both regions' nodes, as \`twinstore up\` prints) or use --start"

status_json() { ts --output json dr status 2>"$WORK/status.err" || { cat "$WORK/status.err" >&2; echo "{}"; }; }

# Waits until the standby region follows the primary with nothing outstanding; prints the status.
wait_caught_up() {
  local st waited=0
  while :; do
    st="$(status_json)"
    if [[ "$(field "$st" caught_up)" == "true" ]]; then
      echo "$st"; return 0
    fi
    if (( waited++ >= CATCH_UP_WAIT * 5 )); then echo "$st"; return 1; fi
    sleep 0.2
  done
}

# A number with a fixed number of decimals ("?" when it is not a number).
num() { [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] && printf "%.${2}f" "$1" || printf '?'; }

lag_text() {
  local st="$1"
  printf '%s entries, %s s (replication latency p50 %s ms, p99 %s ms)' \
    "$(field "$st" lag_entries)" "$(num "$(field "$st" lag_seconds)" 3)" \
    "$(num "$(field "$st" lag_p50_ms)" 1)" "$(num "$(field "$st" lag_p99_ms)" 1)"
}

PROBLEMS=()
problem() { PROBLEMS+=("$1"); echo "  PROBLEM: $1"; }

echo "== before"
ts dr status || die "dr status failed: is a two-region deployment running at $ENDPOINT?"
BEFORE="$(wait_caught_up)" || problem "the standby had not caught up before the drill"
PRIMARY="$(field "$BEFORE" primary_region)"
STANDBY="$(field "$BEFORE" standby_region)"
[[ -n "$PRIMARY" && -n "$STANDBY" ]] || die "no primary and standby region among $ENDPOINT"
LAG_BEFORE="$(lag_text "$BEFORE")"
echo "primary: $PRIMARY, standby: $STANDBY; lag $LAG_BEFORE"

DURATION=$(( 3 * SETTLE + 10 ))
echo
echo "== steady load: $RATE puts/s for ${DURATION}s (twinstore bench --workload put --rate $RATE)"
ts --output json bench --workload put --rate "$RATE" --duration "${DURATION}s" --clients 8 \
  --keys 1000 --value-size 256 > "$WORK/bench.json" 2> "$WORK/bench.err" &
BENCH_PID=$!

# A planned failover; checks that a write through the same endpoint list lands in the new primary.
# Sets PAUSE_MS, RPO_S, LOST, TOOK_MS.
failover() {
  local from="$1" to="$2" n="$3" report st
  echo
  echo "== planned failover $n: $from -> $to"
  if ! report="$(ts --output json dr failover --planned 2>"$WORK/failover.err")"; then
    problem "failover $n failed: $(cat "$WORK/failover.err")"
    PAUSE_MS="-"; RPO_S="-"; LOST="-"; TOOK_MS="-"
    return
  fi
  echo "$(field "$report" summary)"
  PAUSE_MS="$(num "$(field "$report" write_pause_ms)" 0)"
  RPO_S="$(field "$report" rpo_seconds)"
  LOST="$(field "$report" lost_entries_estimate)"
  TOOK_MS="$(num "$(field "$report" elapsed_ms)" 0)"
  [[ "$(field "$report" region)" == "$to" ]] || problem "failover $n promoted $(field "$report" region), not $to"
  [[ "$LOST" == "0" ]] || problem "failover $n reports $LOST entries not carried over"
  local twin="{\"\$metadata\":{\"\$model\":\"dtmi:twinstore:bench:Device;1\"},\"payload\":\"drill-$n\",\"value\":$n}"
  if ts --output json twin put "drill-after-failover-$n" "$twin" > /dev/null 2>"$WORK/put.err"; then
    echo "a write through the same endpoint list succeeded"
  else
    problem "a write after failover $n failed: $(cat "$WORK/put.err")"
  fi
  st="$(status_json)"
  [[ "$(field "$st" primary_region)" == "$to" ]] || problem "after failover $n the primary is '$(field "$st" primary_region)', not $to"
}

sleep "$SETTLE"
failover "$PRIMARY" "$STANDBY" 1
PAUSE1="$PAUSE_MS"; RPO1="$RPO_S"; LOST1="$LOST"; TOOK1="$TOOK_MS"
echo "waiting for region $PRIMARY to follow $STANDBY ..."
MID="$(wait_caught_up)" || problem "region $PRIMARY did not catch up as the new standby within ${CATCH_UP_WAIT}s"
echo "lag: $(lag_text "$MID")"
sleep "$SETTLE"
failover "$STANDBY" "$PRIMARY" 2
PAUSE2="$PAUSE_MS"; RPO2="$RPO_S"; LOST2="$LOST"; TOOK2="$TOOK_MS"

echo
echo "== the load runs to its end, then reads back a sample of its acknowledged writes"
waited=0
while kill -0 "$BENCH_PID" 2>/dev/null; do
  if (( waited++ >= (DURATION + 120) * 10 )); then
    problem "the load did not finish in time"; kill -TERM "$BENCH_PID" 2>/dev/null || true; break
  fi
  sleep 0.1
done
BENCH_RC=0
wait "$BENCH_PID" 2>/dev/null || BENCH_RC=$?
BENCH_PID=""
BENCH="$(cat "$WORK/bench.json")"
OK="$(field "$BENCH" ok)"; FAILED="$(field "$BENCH" failed)"; MAXLAT="$(field "$BENCH" max)"
MISSING="$(field "$BENCH" missing)"; CHECKED="$(field "$BENCH" checked)"
(( BENCH_RC == 0 )) || problem "the load failed (exit $BENCH_RC): $(tail -n 1 "$WORK/bench.err")"
[[ "${FAILED:-x}" == "0" ]] || problem "${FAILED:-?} writes of the load failed: $(field "$BENCH" errors)"
[[ "${MISSING:-x}" == "0" ]] || problem "${MISSING:-?} acknowledged writes are missing"

AFTER="$(wait_caught_up)" || problem "the standby had not caught up after the drill"
[[ "$(field "$AFTER" primary_region)" == "$PRIMARY" ]] || problem "region $PRIMARY is not the primary again"
echo
ts dr status || true

echo
echo "== DR drill report"
printf '  %-34s %s\n' "primary / standby" "$PRIMARY / $STANDBY (endpoints: $ENDPOINT)"
printf '  %-34s %s\n' "RPO" "0 — planned failovers: entries not carried over $LOST1 and $LOST2 (rpo_seconds $RPO1 and $RPO2); read-back $(( ${CHECKED:-0} - ${MISSING:-0} )) of ${CHECKED:-0} acknowledged writes present"
printf '  %-34s %s\n' "write pause $PRIMARY -> $STANDBY" "${PAUSE1} ms (failover command took ${TOOK1} ms)"
printf '  %-34s %s\n' "write pause $STANDBY -> $PRIMARY" "${PAUSE2} ms (failover command took ${TOOK2} ms)"
printf '  %-34s %s\n' "load" "${OK:-?} puts acknowledged, ${FAILED:-?} failed, longest client wait $(num "${MAXLAT:-}" 0) ms (open loop at $RATE/s)"
printf '  %-34s %s\n' "lag before" "$LAG_BEFORE"
printf '  %-34s %s\n' "lag after" "$(lag_text "$AFTER")"
for p in "$PAUSE1" "$PAUSE2"; do
  if [[ "$p" =~ ^[0-9]+$ ]] && (( p >= 2000 )); then
    echo "  note: a write pause of $p ms is above the 2 s target"
  fi
done
if (( ${#PROBLEMS[@]} == 0 )); then
  echo "  verdict: PASS — failed over and back with nothing lost and no write failed"
  exit 0
fi
echo "  verdict: FAIL"
for p in "${PROBLEMS[@]}"; do echo "    - $p"; done
exit 1
