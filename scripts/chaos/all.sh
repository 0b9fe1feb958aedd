#!/usr/bin/env bash
# Every chaos scenario in turn, then a summary table; exit 1 if any scenario lost an acknowledged
# write, found a linearizability violation or got stuck.
#
#   scripts/chaos/all.sh [--duration SECONDS] [--seed N] [--only NAME[,NAME..]]
#
# Without --duration, the short profile (about 3 minutes in all; what CI runs). With it, every
# scenario runs that long (the long profile: e.g. --duration 600 for an hour in all). Seeds
# differ per scenario (SEED, SEED+1, ...) so one --seed reproduces the whole run.
# Scenarios: kill-leader kill-random pause-leader partition wan-latency region-outage.
# partition needs root (nftables; installed when missing).
set -uo pipefail
cd "$(dirname "$0")/../.."
DURATION="" SEED=1 ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    *) echo "usage: $0 [--duration SECONDS] [--seed N] [--only NAME,..]" >&2; exit 2 ;;
  esac
done
# name and its short-profile duration (seconds)
SCENARIOS=(kill-leader:20 kill-random:20 pause-leader:20 partition:25 wan-latency:15 region-outage:24)
SUMMARY="$(mktemp /tmp/twinstore-chaos-summary.XXXXXX)"
trap 'rm -f "$SUMMARY"' EXIT
trap 'exit 130' INT TERM
export TWINSTORE_CHAOS_SUMMARY="$SUMMARY"
source scripts/binary.sh
twinstore_binary || exit 1
export TWINSTORE_BIN="$BIN"
FAILED=() STARTED=$(date +%s) i=0
for entry in "${SCENARIOS[@]}"; do
  name="${entry%%:*}" seconds="${DURATION:-${entry##*:}}"
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
  seed=$(( SEED + i )); i=$((i + 1))
  echo
  echo "### $name --duration $seconds --seed $seed"
  before=$(wc -l < "$SUMMARY")
  "scripts/chaos/$name.sh" --duration "$seconds" --seed "$seed"
  code=$?
  # Interrupted (Ctrl-C reaches the scenario first): stop here.
  [ "$code" = 130 ] && { echo "interrupted"; exit 130; }
  if [ "$code" != 0 ]; then
    FAILED+=("$name")
    # A scenario that died before its report still gets a row.
    [ "$(wc -l < "$SUMMARY")" -gt "$before" ] \
      || printf '%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\terror\n' "$name" "$seed" "$seconds" >> "$SUMMARY"
  fi
done
echo
echo "### summary ($(( $(date +%s) - STARTED )) s; $(nproc) cores, $(uname -m), $(date -u +%F))"
{
  printf 'scenario\tseed\tsecs\tops\tok\tfailed\tunknown\tmax-unavail-ms\tmax-recovery-ms\telections\tstandby-lag\tverdict\n'
  cat "$SUMMARY"
} | column -t -s $'\t'
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "FAILED: ${FAILED[*]}"
  exit 1
fi
echo "all scenarios passed"
