#!/usr/bin/env bash
# Chaos: lose the whole primary region under load and fail over to the standby.
#
# A primary and a standby region (3 nodes each) run a recorded workload against the primary. Part
# way through, every primary node is killed with kill -9 at once; a forced failover promotes the
# standby (its time, RPO and estimated loss are reported); the workload goes on against the new
# primary; the old region is started again, found fenced, and reprotected as the new standby; both
# regions quiesce. Then:
#   - the old primary's history alone must be linearizable (it never served a stale read or lost an
#     acknowledged write while it lived);
#   - the whole run, on one timeline, must be linearizable with every acknowledged write present
#     (or superseded) in every node of both regions — except the writes the system itself reported
#     lost: the old primary's writes the standby never received, which reprotect keeps aside as
#     divergent (`twinstore dr divergent`). Those are excused (with the reads that saw them), and
#     counted in the report; an acknowledged write lost without being reported fails the run.
#
#   scripts/chaos/region-outage.sh [--duration SECONDS] [--seed N] [--down SECONDS]
#
# --down: how long the old region stays down after the failover [until 10 s before the end, at
# least 5 s]: the longer, the more the new primary has moved on (and the larger the snapshot the
# old region is reseeded from).
DURATION=24 SEED=1 DOWN="" OPTIONS="down"
source "$(dirname "$0")/lib.sh" "$@"
(( DURATION >= 12 )) || { echo "--duration must be at least 12 for this scenario" >&2; exit 2; }
BEFORE=$(( DURATION * 2 / 5 ))
# The first workload (against the old primary) goes on failing fast for DOWN seconds after the
# outage; then the old region is brought back (the second workload, against the new primary, runs
# to the end).
[ -n "$DOWN" ] || DOWN=$(( DURATION - BEFORE - 10 > 5 ? DURATION - BEFORE - 10 : 5 ))
(( DOWN < DURATION - BEFORE )) || { echo "--down must be below the time after the outage ($(( DURATION - BEFORE )) s)" >&2; exit 2; }
WORKLOAD_SECONDS=$(( BEFORE + DOWN ))
chaos_start pair
chaos_sleep "$BEFORE" "$BEFORE"
KILLED_NS=$(date +%s%N)
chaos_kill_region primary
chaos_fault
FAILOVER=$("$BIN" --endpoint "$STANDBY_EP" --output json dr failover --forced 2>&1) \
  || { echo "the forced failover failed: $FAILOVER" >&2; exit 1; }
PROMOTED_MS=$(( ($(date +%s%N) - KILLED_NS) / 1000000 ))
HISTORY_B="$WORK/history-b.jsonl"
WORKLOAD_A=$WORKLOAD
chaos_workload "$STANDBY_EP" "$(( DURATION - BEFORE ))" "$HISTORY_B" 100
WORKLOAD_B=$WORKLOAD
wait "$WORKLOAD_A" || { echo "the first workload failed" >&2; exit 1; }
# The old region comes back (as a fenced primary), and is made the new standby.
for n in 1 2 3; do region primary restart "$n" >/dev/null; done
REPROTECT="" ERROR=""
REPROTECT_END=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$REPROTECT_END" ]; do
  if REPROTECT=$("$BIN" --endpoint "$STANDBY_EP,$EP" --output json dr reprotect 2>&1); then break; fi
  ERROR="$REPROTECT" REPROTECT=""
  sleep 0.5
done
[ -n "$REPROTECT" ] || { echo "reprotect did not succeed within 60 s; the last answer: $ERROR" >&2; exit 1; }
WORKLOAD=$WORKLOAD_B
# The old primary's history alone, without final states (its region has moved on since).
"$BIN" --output json chaos check "$HISTORY" --keys "$KEYS" --no-finals > "$WORK/check-a.json" \
  || { echo "the old primary's own history is NOT linearizable:"; cat "$WORK/check-a.json"; exit 1; }
chaos_lost() {
  "$BIN" --endpoint "$STANDBY_EP,$EP" dr divergent --export "$WORK/lost.jsonl" >/dev/null
}
HISTORIES=("$HISTORY" "$HISTORY_B")
FIRST_EP="$STANDBY_EP"
SECOND_EP="$EP"
CHECK_ARGS=(--lost "$WORK/lost.jsonl")
BEFORE_CHECK=chaos_lost
EXTRA_REPORT="forced failover promoted the standby $PROMOTED_MS ms after the kill (the command: \
$(echo "$FAILOVER" | jq -r '"\(.elapsed_ms | floor) ms, RPO \(.rpo_seconds) s, at least \(.lost_entries_estimate) entries not carried over by the last reported position"'))"
chaos_finish region-outage "all 3 primary nodes killed with kill -9 after ${BEFORE}s, forced failover, reprotect"
