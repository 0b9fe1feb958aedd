# Shared by the chaos scripts: a 3-node region started with scripts/cluster.sh in a temporary
# directory (removed on exit, also on Ctrl-C), the recorded workload in the background, and the
# quiesce-and-check step. Source it from a script in scripts/chaos/ after parsing its flags
# (DURATION and SEED must be set).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export TWINSTORE_CLUSTER_DIR="$(mktemp -d /tmp/twinstore-chaos.XXXXXX)"
export TWINSTORE_BASE_PORT="${TWINSTORE_BASE_PORT:-$(( 20000 + (SEED * 97 + $$) % 20000 ))}"
BIN="${TWINSTORE_BIN:-target/release/twinstore}"
[ -x "$BIN" ] || cargo build --release --quiet
export TWINSTORE_BIN="$BIN"
EP="http://127.0.1.1:$TWINSTORE_BASE_PORT,http://127.0.1.2:$TWINSTORE_BASE_PORT,http://127.0.1.3:$TWINSTORE_BASE_PORT"
HISTORY="$TWINSTORE_CLUSTER_DIR/history.jsonl"
KEYS=24
chaos_cleanup() {
  # A paused node must be resumed to be stopped.
  for f in "$TWINSTORE_CLUSTER_DIR"/node*.pid; do [ -f "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null || true; done
  scripts/cluster.sh clean >/dev/null 2>&1 || true
  rm -rf "$TWINSTORE_CLUSTER_DIR"
}
trap chaos_cleanup EXIT INT TERM

# Starts the region and the workload (for DURATION seconds) in the background.
chaos_start() {
  scripts/cluster.sh up >/dev/null
  "$BIN" --endpoint "$EP" chaos workload --clients 6 --keys "$KEYS" --duration "${DURATION}s" \
    --seed "$SEED" --history "$HISTORY" --timeout 3s > "$TWINSTORE_CLUSTER_DIR/workload.out" &
  WORKLOAD=$!
  RANDOM=$SEED
}

# The current leader's id, or nothing.
chaos_leader() {
  "$BIN" --endpoint "$EP" --output json cluster status 2>/dev/null \
    | grep -o '"leader_id": *[0-9]*' | head -1 | grep -o '[0-9]*$' || true
}

# Waits for the workload, lets every node apply the same index (bounded), prints the report and
# runs the checker (its exit code is the script's).
chaos_finish() {
  local name="$1" faults="$2"
  wait "$WORKLOAD"
  for _ in $(seq 1 60); do
    local applied
    applied=$("$BIN" --endpoint "$EP" --output json cluster status 2>/dev/null \
      | grep -o '"last_applied_index": *[0-9]*' | grep -o '[0-9]*$' | sort -u | wc -l)
    [ "$applied" = 1 ] && break
    sleep 0.5
  done
  echo "== $name: seed $SEED, duration ${DURATION}s, $faults"
  cat "$TWINSTORE_CLUSTER_DIR/workload.out"
  "$BIN" --endpoint "$EP" chaos check "$HISTORY" --keys "$KEYS"
}
