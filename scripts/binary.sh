# Sourced by the scripts that run twinstore (cluster.sh, dr-drill.sh, chaos/): which binary to
# run. One place, so that none of them runs a binary older than the sources by mistake — a stale
# binary would test or demonstrate code that is no longer there.
#
#   twinstore_binary    sets BIN: $TWINSTORE_BIN when set (it must be executable, and is used as
#                       it is), else the release build, built with cargo when it is missing or
#                       older than any source (src, cli, proto, build.rs, Cargo.toml, Cargo.lock).
#                       Returns non-zero, saying why on stderr, when that fails.
twinstore_binary() {
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [[ -n "${TWINSTORE_BIN:-}" ]]; then
    BIN="$TWINSTORE_BIN"
    [[ -x "$BIN" ]] || { echo "TWINSTORE_BIN=$BIN is not an executable" >&2; return 1; }
    return 0
  fi
  BIN="$repo/target/release/twinstore"
  if [[ ! -x "$BIN" ]] || [[ -n "$(cd "$repo" && find src cli/src cli/etcd-proto proto build.rs cli/build.rs Cargo.toml cli/Cargo.toml Cargo.lock \
        -newer "$BIN" -print -quit 2>/dev/null)" ]]; then
    echo "building twinstore (cargo build --release) ..." >&2
    (cd "$repo" && cargo build --release --quiet) || { echo "the build failed" >&2; return 1; }
  fi
}
