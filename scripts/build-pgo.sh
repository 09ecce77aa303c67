#!/usr/bin/env bash
# Release build of the gateway (and of bench/proxy's bare Pingora proxy) optimised with a
# profile of the proxy path: profile-guided optimisation, docs/decisions/0012-profile-guided-release-build.md.
#
#   1. an instrumented release build of both binaries (PGO_DIR/gen);
#   2. the proxy benchmark's workload run once against them (bench/proxy/run.sh, short, nothing
#      written to bench/RESULTS.md): sign-ins, single sign-on handshakes, proxied requests of one
#      and of many sessions, over HTTP and TLS; both binaries write their counts on exit;
#   3. the counts merged with the toolchain's own llvm-profdata (rustup component llvm-tools);
#   4. the release build of both binaries with that profile (PGO_DIR/use);
#   5. with BOLT=1, the same again one level down, on the linked binaries (llvm-bolt, Debian's
#      bolt-22; docs/decisions/0013-post-link-layout.md): both instrumented, the workload run
#      against them, their code laid out again by what ran (PGO_DIR/bolt).
#
# Prints the two binaries' paths. Same source, same profile as `cargo build --release`
# otherwise. Environment: PGO_DIR (target/pgo), TRAIN_SESSIONS (200), TRAIN_SECONDS (5), BOLT
# (0).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGO_DIR=${PGO_DIR:-$ROOT/target/pgo}
TRAIN_SESSIONS=${TRAIN_SESSIONS:-200}
TRAIN_SECONDS=${TRAIN_SECONDS:-5}
BOLT=${BOLT:-0}
log() { printf '[pgo %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  printf '[pgo] ERROR: %s\n' "$*" >&2
  exit 1
}
[[ $TRAIN_SESSIONS =~ ^[0-9]+$ ]] && [ "$TRAIN_SESSIONS" -gt 0 ] || die "TRAIN_SESSIONS must be a positive integer"
[[ $TRAIN_SECONDS =~ ^[0-9]+$ ]] && [ "$TRAIN_SECONDS" -gt 0 ] || die "TRAIN_SECONDS must be a positive integer"
case $BOLT in 0 | 1) ;; *) die "BOLT must be 0 or 1" ;; esac
case $PGO_DIR in /*) ;; *) PGO_DIR="$ROOT/$PGO_DIR" ;; esac

"$ROOT/scripts/setup.sh"
command -v rustup >/dev/null 2>&1 || die "rustup not found: the profile tools come with the toolchain (rustup component add llvm-tools)"
rustup component list --installed 2>/dev/null | grep -q '^llvm-tools' || rustup component add llvm-tools >/dev/null
HOST="$(rustc -vV | awk '/^host:/ { print $2 }')"
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata"
[ -x "$PROFDATA" ] || die "no llvm-profdata at $PROFDATA (rustup component add llvm-tools)"
BOLT_BIN=/usr/lib/llvm-22/bin
if [ "$BOLT" = 1 ] && [ ! -x "$BOLT_BIN/llvm-bolt" ]; then
  log "installing bolt-22 (llvm-bolt)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq bolt-22 >/dev/null ||
    die "cannot install bolt-22"
fi

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
train() { # GATEWAY BARE OUTPUT
  PROFILE= TLS=1 ROUNDS=1 DURATION=$TRAIN_SECONDS WARMUP=1 SESSIONS=$TRAIN_SESSIONS HANDSHAKE_SECONDS=2 \
    RESULTS_FILE=- BENCH_BIN="$1" BARE_BIN="$2" "$ROOT/bench/proxy/run.sh" >"$3"
}
train "$GEN/convergences" "$GEN/examples/bare_proxy" "$PGO_DIR/training.txt"
ls "$RAW"/*.profraw >/dev/null 2>&1 || die "the training wrote no profile (did the servers exit cleanly?)"
"$PROFDATA" merge -o "$PGO_DIR/merged.profdata" "$RAW"/*.profraw
log "profile: $("$PROFDATA" show "$PGO_DIR/merged.profdata" | awk '/^Total functions:/ { print $3 }') functions counted"

# From cold: Cargo does not see a new profile as a change of the dependencies it already built.
log "optimised build with the profile (from cold)"
rm -rf "$PGO_DIR/use"
FLAGS="-Cprofile-use=$PGO_DIR/merged.profdata"
# BOLT moves whole functions only in a binary that kept its relocations.
[ "$BOLT" = 1 ] && FLAGS="$FLAGS -Clink-arg=-Wl,--emit-relocs"
build "$PGO_DIR/use" "$FLAGS"
USE="$PGO_DIR/use/$HOST/release"
if [ "$BOLT" = 0 ]; then
  echo "$USE/convergences"
  echo "$USE/examples/bare_proxy"
  exit 0
fi

B="$PGO_DIR/bolt"
rm -rf "$B"
mkdir -p "$B/raw"
log "BOLT: instrumented binaries, then the same workload"
for bin in convergences bare_proxy; do
  src="$USE/convergences"
  [ $bin = bare_proxy ] && src="$USE/examples/bare_proxy"
  "$BOLT_BIN/llvm-bolt" "$src" -o "$B/$bin.instr" -instrument --instrumentation-file-append-pid \
    --instrumentation-file="$B/raw/$bin.fdata" >"$B/$bin.instr.log" 2>&1 ||
    die "llvm-bolt could not instrument $bin: $B/$bin.instr.log"
done
train "$B/convergences.instr" "$B/bare_proxy.instr" "$B/training.txt"
for bin in convergences bare_proxy; do
  src="$USE/convergences"
  [ $bin = bare_proxy ] && src="$USE/examples/bare_proxy"
  ls "$B/raw/$bin".fdata.* >/dev/null 2>&1 || die "the training wrote no BOLT profile for $bin"
  "$BOLT_BIN/merge-fdata" "$B/raw/$bin".fdata.* >"$B/$bin.fdata" 2>"$B/$bin.merge.log"
  # The layout options of the Rust project's own BOLT build of its compiler: blocks and
  # functions ordered by what ran together, cold blocks split out of hot functions, identical
  # functions folded.
  "$BOLT_BIN/llvm-bolt" "$src" -o "$B/$bin" -data="$B/$bin.fdata" -reorder-blocks=ext-tsp \
    -reorder-functions=cdsort -split-functions -split-all-cold -split-eh -icf=1 \
    -use-gnu-stack -dyno-stats >"$B/$bin.log" 2>&1 ||
    die "llvm-bolt could not optimise $bin: $B/$bin.log"
done
log "BOLT: done"
echo "$B/convergences"
echo "$B/bare_proxy"
