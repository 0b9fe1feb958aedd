#!/usr/bin/env bash
# Chaos: kill -9 a random node (leader or follower) of a 3-node region over and over under a
# recorded workload, restart it 1-2 s later, then check (see lib.sh). Exit 1 on any violation or
# stuck cluster.
#
#   scripts/chaos/kill-random.sh [--duration SECONDS] [--seed N]
DURATION=20 SEED=1
source "$(dirname "$0")/lib.sh" "$@"
chaos_start
KILLS=0 LEADERS=0
sleep 2
while [ "$(chaos_left)" -gt 3 ]; do
  VICTIM=$(( 1 + RANDOM % 3 ))
  [ "$VICTIM" = "$(chaos_leader)" ] && LEADERS=$((LEADERS + 1))
  if chaos_kill "$VICTIM"; then
    KILLS=$((KILLS + 1))
    chaos_sleep 1 2
    region primary restart "$VICTIM" >/dev/null
  fi
  chaos_sleep 1 3
done
chaos_finish kill-random "$KILLS random kill(s) with kill -9 ($LEADERS of the leader), each restarted 1-2 s later"
