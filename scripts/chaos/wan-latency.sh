#!/usr/bin/env bash
# Chaos: a WAN between the regions. A primary and a standby region (3 nodes each) run with every
# message from the other region delayed by DELAY ± JITTER ms, under a recorded workload against
# the primary; the report gives the standby's replication lag (p50 and p99, as the standby
# measured it: from a write's commit on the primary to its apply on the standby), and the checker
# proves that both regions end with every acknowledged write.
#
# The delay is injected inside the nodes (`fault_wan_delay_ms` / `fault_wan_jitter_ms`: a delay
# line on the log-shipping stream), not by tc netem: the kernels of the machines this project runs
# on have no queueing disciplines (`tc qdisc add dev lo root netem` answers "Specified qdisc kind is
# unknown"). Region-local raft traffic is not delayed.
#
#   scripts/chaos/wan-latency.sh [--duration SECONDS] [--seed N] [--delay MS] [--jitter MS]
DURATION=20 SEED=1 DELAY=50 JITTER=10
OPTIONS="delay jitter"
source "$(dirname "$0")/lib.sh" "$@"
export TWINSTORE_NODE_CONFIG="fault_wan_delay_ms = $DELAY
fault_wan_jitter_ms = $JITTER"
chaos_start pair
sleep "$(chaos_left)"
chaos_finish wan-latency "log shipping delayed ${DELAY} ± ${JITTER} ms between the regions"
