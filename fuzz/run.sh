#!/usr/bin/env bash
# Bounded fuzzing of every parser of untrusted input (fuzz/README.md): builds all targets once,
# then runs each (one per core at a time) for FUZZ_SECONDS on a scratch corpus seeded from
# fuzz/seeds/<target> and fuzz/regressions/<target>, prints the executions and the verdict per
# target, and exits non-zero on any crash. Never writes into the repository except fuzz/target/
# (the build) and, on a crash, fuzz/artifacts/<target>/ (the input, to reproduce it); both are
# ignored by git.
#
#   FUZZ_SECONDS=25        time per target
#   FUZZ_TARGETS="a b"     only these targets (default: every file of fuzz/fuzz_targets/)
#   FUZZ_SANITIZER=address address (default) or none (faster build and runs, no ASan)
#   FUZZ_TIMEOUT=30        seconds one input may take before it counts as a crash (a hang)
#   FUZZ_JOBS=2            targets fuzzed at the same time (default: the number of cores)
#   FUZZ_NO_BUILD=1        use the binaries of the last build as they are (iterating on seeds)
#   FUZZ_ALLOW_CRASH="a b" targets whose crash is reported but does not fail the run (for a
#                          known, reported bug while its fix is under way; never in CI)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
fuzz="$root/fuzz"

seconds=${FUZZ_SECONDS:-25}
sanitizer=${FUZZ_SANITIZER:-address}
timeout=${FUZZ_TIMEOUT:-30}
allow=" ${FUZZ_ALLOW_CRASH:-} "
# One target per core at a time (FUZZ_JOBS): each libFuzzer process is single-threaded, so on
# CI's two cores the step takes half the time, for the same time per target (and up to 29 %
# fewer executions in it, measured: fuzz/README.md, "Build time").
parallel=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
if ! [[ "$parallel" =~ ^[0-9]+$ ]] || [ "$((10#$parallel))" -lt 1 ]; then
  echo "fuzz: FUZZ_JOBS must be a whole number of at least 1, not '$parallel'" >&2
  exit 2
fi

# cargo-fuzz needs the nightly toolchain (sanitizer and coverage flags). Never install one:
# without it, skip.
if ! command -v rustup >/dev/null 2>&1; then
  echo "fuzz: skipped: rustup is not installed (cargo-fuzz needs a nightly toolchain)"
  exit 0
fi
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: skipped: no nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked || {
    echo "fuzz: cannot install cargo-fuzz" >&2
    exit 1
  }
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in "$fuzz"/fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
  done
fi

triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
# Release with debug assertions and overflow checks; 16 codegen units rather than cargo-fuzz's
# 1: the crate graph (Pingora, sqlx, axum) builds far faster on 2 cores, at little cost in
# executions per second.
build=(cargo +nightly fuzz build -O -a --codegen-units 16 --sanitizer "$sanitizer")
if [ -n "${FUZZ_NO_BUILD:-}" ]; then
  echo "fuzz: FUZZ_NO_BUILD: not building, running the last build's binaries"
else
  echo "fuzz: ${build[*]}"
  start=$(date +%s)
  if ! "${build[@]}"; then
    echo "fuzz: build failed" >&2
    exit 1
  fi
  echo "fuzz: build took $(($(date +%s) - start)) s"
fi
bindir="$fuzz/target/$triple/release"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/convergences-fuzz.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$scratch"' EXIT

# Runs one target on its scratch corpus; its log and exit status go to $scratch/<target>.log
# and .rc.
fuzz_one() {
  local t=$1 bin=$2
  local corpus="$scratch/corpus/$t"
  local artifacts="$scratch/artifacts/$t"
  mkdir -p "$corpus" "$artifacts" "$scratch/tmp/$t"
  for d in "$fuzz/seeds/$t" "$fuzz/regressions/$t"; do
    if [ -d "$d" ]; then
      cp -R "$d/." "$corpus/"
    fi
  done
  echo "== fuzz: $t (${seconds} s, $(find "$corpus" -type f | wc -l) seed(s))"
  # TMPDIR: where a target keeps its scratch files (csv_import's database).
  TMPDIR="$scratch/tmp/$t" "$bin" "$corpus" \
    -max_total_time="$seconds" \
    -rss_limit_mb=2048 \
    -timeout="$timeout" \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    >"$scratch/$t.log" 2>&1
  echo $? >"$scratch/$t.rc"
}

for t in "${targets[@]}"; do
  bin="$bindir/$t"
  [ -x "$bin" ] || continue
  while [ "$(jobs -rp | wc -l)" -ge "$((10#$parallel))" ]; do
    wait -n
  done
  fuzz_one "$t" "$bin" &
done
wait

failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$bindir/$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $t: no binary at $bin" >&2
    failed+=("$t")
    summary+=("$(printf '%-16s %12s  %s' "$t" "-" "NOT BUILT")")
    continue
  fi
  artifacts="$scratch/artifacts/$t"
  log="$scratch/$t.log"
  rc=$(cat "$scratch/$t.rc" 2>/dev/null || echo 1)
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
  [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  [ -n "$runs" ] || runs="?"
  crash=$(find "$artifacts" -type f | head -n 1)
  if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
    summary+=("$(printf '%-16s %12s  %s' "$t" "$runs" "ok")")
    continue
  fi
  # A crash: show why, and keep the input where the developer can replay it.
  grep -E -m 8 -A 4 "panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|SUMMARY:" "$log" | head -n 40
  kept=""
  if [ -n "$crash" ]; then
    mkdir -p "$fuzz/artifacts/$t"
    cp "$crash" "$fuzz/artifacts/$t/"
    kept="fuzz/artifacts/$t/$(basename "$crash")"
    echo "fuzz: $t: input ($(wc -c <"$crash") bytes), base64: $(head -c 512 "$crash" | base64 -w 0)"
    echo "fuzz: $t: replay with: fuzz/target/$triple/release/$t $kept"
  else
    tail -n 20 "$log"
  fi
  verdict="CRASH${kept:+ ($kept)}"
  case "$allow" in
    *" $t "*) verdict="$verdict, allowed by FUZZ_ALLOW_CRASH" ;;
    *) failed+=("$t") ;;
  esac
  summary+=("$(printf '%-16s %12s  %s' "$t" "$runs" "$verdict")")
done

echo "== fuzz: summary (executions in ${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (see fuzz/README.md to reproduce and to add a regression)" >&2
  exit 1
fi
if printf '%s\n' "${summary[@]}" | grep -q "allowed by FUZZ_ALLOW_CRASH"; then
  echo "fuzz: no crash outside FUZZ_ALLOW_CRASH (${FUZZ_ALLOW_CRASH:-})"
else
  echo "fuzz: no crash"
fi
