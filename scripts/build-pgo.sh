#!/usr/bin/env bash
# Release build of the gateway (and of bench/proxy's bare Pingora proxy) optimised with a
# profile of the proxy path: profile-guided optimisation, docs/decisions/0012-profile-guided-release-build.md.
#
#   1. an instrumented release build of both binaries (PGO_DIR/gen);
#   2. the proxy benchmark's workload run once against them (bench/proxy/run.sh, short, nothing
#      written to bench/RESULTS.md): sign-ins, single sign-on handshakes, proxied requests of one
#      and of many sessions, over HTTP and TLS; both binaries write their counts on exit;
#   3. the counts merged with the toolchain's own llvm-profdata (rustup component llvm-tools);
#   4. the release build of both binaries with that profile (PGO_DIR/use).
#
# Prints the two binaries' paths. Same source, same profile as `cargo build --release`
# otherwise. Environment: PGO_DIR (target/pgo), TRAIN_SESSIONS (200), TRAIN_SECONDS (5).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGO_DIR=${PGO_DIR:-$ROOT/target/pgo}
TRAIN_SESSIONS=${TRAIN_SESSIONS:-200}
TRAIN_SECONDS=${TRAIN_SECONDS:-5}
log() { printf '[pgo %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  printf '[pgo] ERROR: %s\n' "$*" >&2
  exit 1
}
[[ $TRAIN_SESSIONS =~ ^[0-9]+$ ]] && [ "$TRAIN_SESSIONS" -gt 0 ] || die "TRAIN_SESSIONS must be a positive integer"
[[ $TRAIN_SECONDS =~ ^[0-9]+$ ]] && [ "$TRAIN_SECONDS" -gt 0 ] || die "TRAIN_SECONDS must be a positive integer"
case $PGO_DIR in /*) ;; *) PGO_DIR="$ROOT/$PGO_DIR" ;; esac

"$ROOT/scripts/setup.sh"
command -v rustup >/dev/null 2>&1 || die "rustup not found: the profile tools come with the toolchain (rustup component add llvm-tools)"
rustup component list --installed 2>/dev/null | grep -q '^llvm-tools' || rustup component add llvm-tools >/dev/null
HOST="$(rustc -vV | awk '/^host:/ { print $2 }')"
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata"
[ -x "$PROFDATA" ] || die "no llvm-profdata at $PROFDATA (rustup component add llvm-tools)"

# --target: RUSTFLAGS then apply to the binaries only, not to build scripts and proc macros
# (which would write counts of the build itself).
build() { # TARGET_DIR RUSTFLAGS
  (cd "$ROOT" && CARGO_TARGET_DIR="$1" RUSTFLAGS="$2" cargo build --release --locked --quiet \
    --target "$HOST" --bin convergences --example bare_proxy)
}

RAW="$PGO_DIR/raw"
rm -rf "$RAW"
mkdir -p "$RAW"
log "instrumented build (the whole release build once; tens of minutes on two cores)"
build "$PGO_DIR/gen" "-Cprofile-generate=$RAW"
GEN="$PGO_DIR/gen/$HOST/release"

log "training: bench/proxy's workload, $TRAIN_SESSIONS sessions, ${TRAIN_SECONDS} s per target"
PROFILE= TLS=1 ROUNDS=1 DURATION=$TRAIN_SECONDS WARMUP=1 SESSIONS=$TRAIN_SESSIONS HANDSHAKE_SECONDS=2 \
  RESULTS_FILE=- BENCH_BIN="$GEN/convergences" BARE_BIN="$GEN/examples/bare_proxy" \
  "$ROOT/bench/proxy/run.sh" >"$PGO_DIR/training.txt"
ls "$RAW"/*.profraw >/dev/null 2>&1 || die "the training wrote no profile (did the servers exit cleanly?)"
"$PROFDATA" merge -o "$PGO_DIR/merged.profdata" "$RAW"/*.profraw
log "profile: $("$PROFDATA" show "$PGO_DIR/merged.profdata" | awk '/^Total functions:/ { print $3 }') functions counted"

# From cold: Cargo does not see a new profile as a change of the dependencies it already built.
log "optimised build with the profile (from cold)"
rm -rf "$PGO_DIR/use"
build "$PGO_DIR/use" "-Cprofile-use=$PGO_DIR/merged.profdata"
USE="$PGO_DIR/use/$HOST/release"
echo "$USE/convergences"
echo "$USE/examples/bare_proxy"
