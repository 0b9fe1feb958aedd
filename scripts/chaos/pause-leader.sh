#!/usr/bin/env bash
# Chaos: SIGSTOP the leader of a 3-node region past the election timeout, then SIGCONT it, over
# and over, under a recorded workload. A paused ("zombie") leader must neither acknowledge a write
# nor serve a stale read once the others have moved on; the checker proves it (see lib.sh).
#
#   scripts/chaos/pause-leader.sh [--duration SECONDS] [--seed N] [--pause SECONDS]
DURATION=20 SEED=1 PAUSE=2
OPTIONS="pause"
source "$(dirname "$0")/lib.sh" "$@"
chaos_start
PAUSES=0
sleep 2
while [ "$(chaos_left)" -gt $(( PAUSE + 2 )) ]; do
  LEADER=$(chaos_leader)
  PID=$( [ -n "$LEADER" ] && chaos_pid "$LEADER" || true)
  if [ -n "$PID" ]; then
    kill -STOP "$PID"
    chaos_fault
    PAUSES=$((PAUSES + 1))
    sleep "$PAUSE"
    kill -CONT "$PID"
  fi
  chaos_sleep 1 2
done
chaos_finish pause-leader "$PAUSES leader pause(s) of ${PAUSE}s (SIGSTOP, then SIGCONT)"
