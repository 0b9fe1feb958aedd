#!/usr/bin/env bash
# Chaos: network partitions inside a 3-node region under a recorded workload, with nftables rules
# on the nodes' own loopback addresses (127.0.1.N; each node binds its outgoing connections to its
# address, so a rule on a pair of addresses cuts exactly that link). Rounds, in a seeded random
# order, each held 3-5 s and then healed:
#   - isolate the leader in a minority (both directions cut);
#   - split: a random follower alone on one side;
#   - one-way loss: the leader's packets to the others are dropped (it still hears them);
#   - one-way loss: the others' packets to the leader are dropped (it still talks to them).
# Clients keep talking to every node (their traffic is not cut): an isolated leader must neither
# acknowledge a write nor serve a stale read. Needs root; installs nftables when missing.
#
#   scripts/chaos/partition.sh [--duration SECONDS] [--seed N]
DURATION=30 SEED=1
source "$(dirname "$0")/lib.sh" "$@"
chaos_nft_init
chaos_start
ROUNDS=0 KINDS=""
sleep 2
while [ "$(chaos_left)" -gt 6 ]; do
  LEADER=$(chaos_leader)
  [ -n "$LEADER" ] || { sleep 1; continue; }
  OTHERS=$(for n in 1 2 3; do if [ "$n" != "$LEADER" ]; then echo "$n"; fi; done)
  case $(( RANDOM % 4 )) in
    0) KIND=isolate-leader
       for o in $OTHERS; do chaos_cut "$LEADER" "$o"; chaos_cut "$o" "$LEADER"; done ;;
    1) KIND=split
       set -- $OTHERS; LONE=$( (( RANDOM % 2 )) && echo "$1" || echo "$2")
       for n in 1 2 3; do if [ "$n" != "$LONE" ]; then chaos_cut "$LONE" "$n"; chaos_cut "$n" "$LONE"; fi; done ;;
    2) KIND=leader-outbound-loss
       for o in $OTHERS; do chaos_cut "$LEADER" "$o"; done ;;
    3) KIND=leader-inbound-loss
       for o in $OTHERS; do chaos_cut "$o" "$LEADER"; done ;;
  esac
  chaos_fault
  ROUNDS=$((ROUNDS + 1))
  KINDS="$KINDS $KIND"
  chaos_sleep 3 5
  chaos_heal
  chaos_sleep 2 3
done
chaos_finish partition "$ROUNDS partition round(s):$KINDS"
