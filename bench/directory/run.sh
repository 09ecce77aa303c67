#!/usr/bin/env bash
# Directory benchmark at 100 000 accounts (docs/product.md#performance-targets): seeds
# 5 000 structures, 100 000 accounts and
# 300 000 role assignments into a fresh database, starts the real gateway in-process and times
# the AIA pages (p50/p99 against a GET /healthz baseline) and the streamed CSV export (time to
# the last byte, rows, peak memory growth). SQLite always; PostgreSQL too when
# BENCH_DATABASE_URL is set (a fresh schema, dropped at the end). Prints the tables and appends
# them to bench/RESULTS.md. See bench/README.md.
#
# Environment: BENCH_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test), BACKENDS
# ("sqlite postgres" when BENCH_DATABASE_URL is set, else "sqlite"), ITERATIONS (50), WARMUP (3),
# EXPORT_RUNS (3), BENCH_SQLITE_ANALYZE=1, BENCH_EXPLAIN=1, CARGO_TARGET_DIR, RESULTS_FILE
# (bench/RESULTS.md; "-" for none), BENCH_NOTE, BENCH_KEEP_TMP=1, BENCH_KEEP_SCHEMA=1 (keep the PostgreSQL schema, for EXPLAIN by hand).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib/common.sh"

ITERATIONS=${ITERATIONS:-50}
WARMUP=${WARMUP:-3}
EXPORT_RUNS=${EXPORT_RUNS:-3}
RESULTS_FILE=${RESULTS_FILE:-$BENCH_ROOT/bench/RESULTS.md}
if [ -z "${BACKENDS:-}" ]; then
  BACKENDS="sqlite"
  [ -n "${BENCH_DATABASE_URL:-}" ] && BACKENDS="sqlite postgres"
fi
for v in ITERATIONS WARMUP EXPORT_RUNS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer"
done
[ "$ITERATIONS" -le 1000 ] || die "ITERATIONS is capped at 1000"
[ "$EXPORT_RUNS" -le 20 ] || die "EXPORT_RUNS is capped at 20"
for b in $BACKENDS; do
  case $b in
    sqlite) ;;
    postgres)
      [ -n "${BENCH_DATABASE_URL:-}" ] || die "BACKENDS has postgres: set BENCH_DATABASE_URL=postgres://..."
      case $BENCH_DATABASE_URL in
        postgres://*@127.0.0.1[:/]* | postgres://*@localhost[:/]* | postgresql://*@127.0.0.1[:/]* | postgresql://*@localhost[:/]*) ;;
        *) die "BENCH_DATABASE_URL must point at the loopback (127.0.0.1 or localhost)" ;;
      esac
      ;;
    *) die "unknown back end '$b' in BACKENDS (sqlite, postgres)" ;;
  esac
done

trap cleanup EXIT
make_tmp
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup) first"
"$BENCH_ROOT/scripts/setup.sh"

TREE="$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$BENCH_ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock migrations templates static bench/directory 2>/dev/null ||
  TREE="$TREE + uncommitted changes"

log "building the benchmark (cargo bench --bench directory --no-run; release profile, first build takes minutes)"
(cd "$BENCH_ROOT" && cargo bench --quiet --bench directory --no-run)

STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY_MAX=$(busy_processes)
for b in $BACKENDS; do
  log "back end $b: seeding and measuring (a few minutes)"
  b_now="$(busy_processes)"
  [ "$b_now" -gt "$BUSY_MAX" ] && BUSY_MAX=$b_now
  # The measuring program starts the gateway in-process; no CONVERGENCES_* override applies
  # (its configuration is built from text, without the environment).
  (cd "$BENCH_ROOT" && BENCH_BACKEND="$b" BENCH_REPORT="$BENCH_TMP/report-$b.md" \
    ITERATIONS="$ITERATIONS" WARMUP="$WARMUP" EXPORT_RUNS="$EXPORT_RUNS" \
    cargo bench --quiet --bench directory) >"$BENCH_TMP/out-$b.txt" 2> >(tee "$BENCH_TMP/err-$b.txt" >&2) ||
    die "back end $b failed (see the messages above)"
  [ -s "$BENCH_TMP/report-$b.md" ] || die "back end $b wrote no report"
  b_now="$(busy_processes)"
  [ "$b_now" -gt "$BUSY_MAX" ] && BUSY_MAX=$b_now
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

REPORT="$BENCH_TMP/report.md"
{
  echo "### Directory at 100 000 accounts — $STARTED"
  echo
  echo "- Machine: $(machine_description)"
  echo "- Commit: $TREE; \`cargo bench --bench directory\` (release profile); the gateway (server.threads = 2, control runtime 2 threads, in-process sessions) and the HTTP client (reqwest blocking, one keep-alive connection per viewer) run in the same process on loopback"
  echo "- Load average before/after: $LOAD_BEFORE / $LOAD_AFTER; build processes (rustc, cc, ld...) seen around the runs: up to $BUSY_MAX${BENCH_NOTE:+; $BENCH_NOTE}"
  echo "- Data: 1 000 principal establishments with 4 attached structures each (one allowed domain each), 100 000 accounts (establishment A: 20 000, B: 10 000, the 998 others about 70 each; one fifth in the principal structure, the rest spread over the attached ones), 3 role assignments per account over 4 applications; the référent of A (which also administers BIP) and the platform administrator are measured; the référent of B exports 10 000 accounts"
  echo
  for b in $BACKENDS; do
    cat "$BENCH_TMP/report-$b.md"
    echo
  done
} >"$REPORT"

publish_report "$REPORT"
