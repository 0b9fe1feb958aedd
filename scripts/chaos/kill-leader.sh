#!/usr/bin/env bash
# Chaos: kill -9 the leader of a 3-node region over and over under a recorded workload, restart it
# a second later, then check that the history is linearizable and nothing acknowledged was lost
# (see lib.sh). Exit 1 on any violation or stuck cluster.
#
#   scripts/chaos/kill-leader.sh [--duration SECONDS] [--seed N]
DURATION=20 SEED=1
source "$(dirname "$0")/lib.sh" "$@"
chaos_start
KILLS=0
sleep 2
while [ "$(chaos_left)" -gt 3 ]; do
  LEADER=$(chaos_leader)
  if [ -n "$LEADER" ]; then
    chaos_kill "$LEADER"
    KILLS=$((KILLS + 1))
    sleep 1
    region primary restart "$LEADER" >/dev/null
  fi
  chaos_sleep 2 4
done
chaos_finish kill-leader "$KILLS leader kill(s) with kill -9, each restarted 1 s later"
