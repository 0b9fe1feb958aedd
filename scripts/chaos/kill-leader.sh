#!/usr/bin/env bash
# Chaos: kill -9 the leader of a 3-node region over and over, under a recorded workload, then
# check that the history is linearizable and nothing acknowledged was lost.
#
#   scripts/chaos/kill-leader.sh [--duration SECONDS] [--seed N] [--every SECONDS]
#
# It starts its own region with scripts/cluster.sh in a temporary directory (removed at the end,
# also on Ctrl-C), runs `twinstore chaos workload` against it, kills the current leader every
# --every seconds (± a seeded jitter) and restarts it a second later, heals, waits for every node
# to apply the same index, runs `twinstore chaos check`, and prints a report. Exit 1 on any
# violation or stuck cluster. All traffic stays on loopback; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=20 SEED=1 EVERY=4
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --every) EVERY="$2"; shift 2 ;;
    *) echo "usage: $0 [--duration SECONDS] [--seed N] [--every SECONDS]" >&2; exit 2 ;;
  esac
done
export TWINSTORE_CLUSTER_DIR="$(mktemp -d /tmp/twinstore-chaos.XXXXXX)"
export TWINSTORE_BASE_PORT="${TWINSTORE_BASE_PORT:-$(( 20000 + (SEED * 97 + $$) % 20000 ))}"
BIN="${TWINSTORE_BIN:-target/release/twinstore}"
[ -x "$BIN" ] || cargo build --release --quiet
export TWINSTORE_BIN="$BIN"
EP="http://127.0.1.1:$TWINSTORE_BASE_PORT,http://127.0.1.2:$TWINSTORE_BASE_PORT,http://127.0.1.3:$TWINSTORE_BASE_PORT"
cleanup() { scripts/cluster.sh clean >/dev/null 2>&1 || true; rm -rf "$TWINSTORE_CLUSTER_DIR"; }
trap cleanup EXIT INT TERM

scripts/cluster.sh up >/dev/null
HISTORY="$TWINSTORE_CLUSTER_DIR/history.jsonl"
"$BIN" --endpoint "$EP" chaos workload --clients 6 --keys 24 --duration "${DURATION}s" --seed "$SEED" --history "$HISTORY" --timeout 3s > "$TWINSTORE_CLUSTER_DIR/workload.out" &
WORKLOAD=$!
RANDOM=$SEED
KILLS=0
END=$(( $(date +%s) + DURATION - 2 ))
sleep 2
while [ "$(date +%s)" -lt "$END" ]; do
  LEADER=$("$BIN" --endpoint "$EP" --output json cluster status 2>/dev/null | grep -o '"leader_id": *[0-9]*' | head -1 | grep -o '[0-9]*$' || true)
  if [ -n "$LEADER" ] && [ "$LEADER" != 0 ]; then
    scripts/cluster.sh kill "$LEADER" >/dev/null
    KILLS=$((KILLS + 1))
    sleep 1
    scripts/cluster.sh restart "$LEADER" >/dev/null
  fi
  sleep $(( EVERY - 1 + RANDOM % 2 ))
done
wait "$WORKLOAD"
# Quiesce: every node applies the same index (bounded).
for _ in $(seq 1 60); do
  APPLIED=$("$BIN" --endpoint "$EP" --output json cluster status 2>/dev/null | grep -o '"last_applied_index": *[0-9]*' | grep -o '[0-9]*$' | sort -u | wc -l)
  [ "$APPLIED" = 1 ] && break
  sleep 0.5
done
echo "== kill-leader: seed $SEED, duration ${DURATION}s, $KILLS leader kill(s)"
cat "$TWINSTORE_CLUSTER_DIR/workload.out"
"$BIN" --endpoint "$EP" chaos check "$HISTORY" --keys 24
