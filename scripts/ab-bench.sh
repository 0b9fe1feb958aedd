#!/usr/bin/env bash
# Two twinstore binaries' peak durable writes, interleaved on this machine, so a change can be
# shown to cost nothing (or what it costs) in one run with the same load generator.
#
#   scripts/ab-bench.sh BIN_A BIN_B [ROUNDS]
#
# Each round runs A then B, each on a fresh plaintext 3-node region (scripts/cluster.sh on
# 127.0.1.1-3:7601, data in a temporary directory): `bench --workload put --clients 64 --conns 8
# --duration 10s --keys 1000 --value-size 1024` with B's load generator for both, and prints one
# line per run (writes/s, p50, p99). Interleaving spreads the machine's drift over both. ROUNDS
# defaults to 2. Needs jq. Both binaries must take the settings cluster.sh writes for a plaintext
# region (any since issue 11's).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
A="${1:?usage: scripts/ab-bench.sh BIN_A BIN_B [ROUNDS]}"
B="${2:?usage: scripts/ab-bench.sh BIN_A BIN_B [ROUNDS]}"
ROUNDS="${3:-2}"
PORT=7601
EP="http://127.0.1.1:$PORT,http://127.0.1.2:$PORT,http://127.0.1.3:$PORT"
for bin in "$A" "$B"; do [[ -x "$bin" ]] || { echo "not an executable: $bin" >&2; exit 2; }; done
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ab-bench.XXXXXX")"
cluster() {
  TWINSTORE_BIN="$1" TWINSTORE_CLUSTER_DIR="$WORK/c" TWINSTORE_BASE_PORT=$PORT \
    TWINSTORE_CLUSTER_INSECURE=1 "$REPO/scripts/cluster.sh" "${@:2}"
}
trap 'cluster "$A" clean >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
for ((round = 1; round <= ROUNDS; round++)); do
  for name in A B; do
    if [[ $name == A ]]; then bin="$A"; else bin="$B"; fi
    cluster "$bin" up > "$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 1; }
    timeout 120 "$B" --endpoint "$EP" --output json bench --workload put --clients 64 --conns 8 \
        --duration 10s --keys 1000 --value-size 1024 2>/dev/null \
      | jq -r --arg r "$round" --arg n "$name" \
          '"round \($r) \($n): \(.ops_per_sec | floor) writes/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms"'
    cluster "$bin" clean > /dev/null 2>&1
  done
done
