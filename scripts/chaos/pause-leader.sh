#!/usr/bin/env bash
# Chaos: SIGSTOP the leader of a 3-node region past the election timeout, then SIGCONT it, over
# and over, under a recorded workload. A paused ("zombie") leader must neither acknowledge a write
# nor serve a stale read once the others have moved on; the checker proves it (see lib.sh).
#
#   scripts/chaos/pause-leader.sh [--duration SECONDS] [--seed N] [--pause SECONDS]
DURATION=20 SEED=1 PAUSE=2
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --pause) PAUSE="$2"; shift 2 ;;
    *) echo "usage: $0 [--duration SECONDS] [--seed N] [--pause SECONDS]" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/lib.sh"
chaos_start
PAUSES=0
END=$(( $(date +%s) + DURATION - PAUSE - 2 ))
sleep 2
while [ "$(date +%s)" -lt "$END" ]; do
  LEADER=$(chaos_leader)
  PIDFILE="$TWINSTORE_CLUSTER_DIR/node$LEADER.pid"
  if [ -n "$LEADER" ] && [ "$LEADER" != 0 ] && [ -f "$PIDFILE" ]; then
    PID=$(cat "$PIDFILE")
    kill -STOP "$PID"
    PAUSES=$((PAUSES + 1))
    sleep "$PAUSE"
    kill -CONT "$PID"
  fi
  sleep $(( 1 + RANDOM % 2 ))
done
chaos_finish pause-leader "$PAUSES leader pause(s) of ${PAUSE}s"
