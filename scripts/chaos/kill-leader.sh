#!/usr/bin/env bash
# Chaos: kill -9 the leader of a 3-node region over and over, under a recorded workload, restart
# it a second later, then check that the history is linearizable and nothing acknowledged was
# lost (see lib.sh). Exit 1 on any violation or stuck cluster.
#
#   scripts/chaos/kill-leader.sh [--duration SECONDS] [--seed N] [--every SECONDS]
DURATION=20 SEED=1 EVERY=4
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --every) EVERY="$2"; shift 2 ;;
    *) echo "usage: $0 [--duration SECONDS] [--seed N] [--every SECONDS]" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/lib.sh"
chaos_start
KILLS=0
END=$(( $(date +%s) + DURATION - 2 ))
sleep 2
while [ "$(date +%s)" -lt "$END" ]; do
  LEADER=$(chaos_leader)
  if [ -n "$LEADER" ] && [ "$LEADER" != 0 ]; then
    scripts/cluster.sh kill "$LEADER" >/dev/null
    KILLS=$((KILLS + 1))
    sleep 1
    scripts/cluster.sh restart "$LEADER" >/dev/null
  fi
  sleep $(( EVERY - 1 + RANDOM % 2 ))
done
chaos_finish kill-leader "$KILLS leader kill(s)"
