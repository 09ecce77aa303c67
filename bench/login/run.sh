#!/usr/bin/env bash
# Login throughput benchmark: complete portal logins (GET /login for the CSRF cookie and token,
# POST /login with the credentials -> 303 + session cookie) by CLIENTS concurrent clients,
# ROUNDS rounds of DURATION seconds, against a release gateway (SQLite, in-process sessions,
# argon2id at its default cost). Prints logins/s and latency, appends to bench/RESULTS.md.
# See bench/README.md.
#
# Environment: CLIENTS (10), ROUNDS (3), DURATION (10 s), WARMUP (3 s), GATEWAY_THREADS (2),
# BENCH_BIN (skip the build), CARGO_TARGET_DIR, RESULTS_FILE (bench/RESULTS.md; "-" for
# none), BENCH_NOTE, BENCH_KEEP_TMP=1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib/common.sh"

CLIENTS=${CLIENTS:-10}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
RESULTS_FILE=${RESULTS_FILE:-$BENCH_ROOT/bench/RESULTS.md}
PASSWORD='Mesure-Debit-2026!xq'
for v in CLIENTS ROUNDS DURATION WARMUP; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer"
done
[ "$DURATION" -le 600 ] || die "DURATION is capped at 600 s"
[ "$ROUNDS" -le 50 ] || die "ROUNDS is capped at 50"
[ "$CLIENTS" -le 500 ] || die "CLIENTS is capped at 500"

trap cleanup EXIT
ensure_packages curl:curl python3:python3
build_gateway
make_tmp
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
pick_port GW_PORT
pick_port UP_PORT # nothing listens there: the login never reaches an application

# The per-IP login limit would stop one client address at a few attempts per minute: lift it
# for the benchmark when this version has it (we measure the cost of a login, not the limit).
GATEWAY_EXTRA_TOML=""
probe="$BENCH_TMP/probe.toml"
printf '[server]\nlisten = "127.0.0.1:%s"\ndata_dir = "%s/probe"\n[security]\nattempts_per_ip_per_minute = 1000000\n' \
  "$GW_PORT" "$BENCH_TMP" >"$probe"
if probe_out="$(gw check-config --config "$probe" 2>&1)" ||
  ! grep -q attempts_per_ip_per_minute <<<"$probe_out"; then
  GATEWAY_EXTRA_TOML=$'[security]\nattempts_per_ip_per_minute = 1000000'
  LIMIT_NOTE="security.attempts_per_ip_per_minute raised to 1000000"
else
  LIMIT_NOTE="no per-IP login limit in this version"
fi
export GATEWAY_EXTRA_TOML

log "Convergences ($BENCH_BIN) on 127.0.0.1:$GW_PORT ($LIMIT_NOTE)"
start_gateway "$GW_PORT" "$UP_PORT"
EMAILS=""
for i in $(seq 1 "$CLIENTS"); do
  email="login$i@bench.example.fr"
  create_bench_user "$GW_PORT" "$email" "$PASSWORD"
  EMAILS="${EMAILS:+$EMAILS,}$email"
done
log "$CLIENTS accounts ready (one per client)"

peak_rss=0
sample_rss() {
  local k v _
  while read -r k v _; do
    if [ "$k" = "VmRSS:" ] && [ "$v" -gt "$peak_rss" ]; then peak_rss=$v; fi
  done 2>/dev/null <"/proc/$GATEWAY_PID/status" || true
}

client() { # seconds -> JSON line
  python3 "$HERE/client.py" --port "$GW_PORT" --host "auth.localhost:$GW_PORT" \
    --emails "$EMAILS" --password "$PASSWORD" --clients "$CLIENTS" --duration "$1"
}

log "warm-up ${WARMUP} s"
client "$WARMUP" >"$BENCH_TMP/warmup.json"
BUSY_MAX=$(busy_processes)
for r in $(seq 1 "$ROUNDS"); do
  b="$(busy_processes)"
  [ "$b" -gt "$BUSY_MAX" ] && BUSY_MAX=$b
  log "round $r/$ROUNDS: $CLIENTS clients, ${DURATION} s"
  client "$DURATION" >"$BENCH_TMP/round-$r.json" &
  cpid=$!
  while kill -0 "$cpid" 2>/dev/null; do
    sample_rss
    sleep 0.25
  done
  wait "$cpid" || die "login client failed in round $r"
  ROUND_RSS="${ROUND_RSS:+$ROUND_RSS, }$((peak_rss / 1024))"
  kill -0 "$GATEWAY_PID" 2>/dev/null || die "the gateway died during round $r: $(tail -20 "$BENCH_TMP/gateway/gateway.log")"
  errs="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["errors"], json.dumps(d["error_kinds"]))' "$BENCH_TMP/round-$r.json")"
  [ "${errs%% *}" = 0 ] || die "round $r: failed logins: ${errs#* }"
done
GW_HWM="$(awk '/^VmHWM/ { print $2 }' "/proc/$GATEWAY_PID/status")"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

REPORT="$BENCH_TMP/report.md"
{
  echo "### Logins per second — $STARTED"
  echo
  echo "- Machine: $(machine_description)"
  echo "- Binary: $BUILD_DESC; server.threads = ${GATEWAY_THREADS:-2}, SQLite + in-process sessions, argon2id default cost (m=19456 KiB, t=2, p=1); $LIMIT_NOTE; log level $GATEWAY_LOG_LEVEL"
  echo "- $CLIENTS concurrent clients (Python threads, keep-alive), one account each; a login = GET /login + POST /login (303 + session cookie); ${DURATION} s per round, $ROUNDS rounds, ${WARMUP} s warm-up; the clients share the machine"
  echo "- Load average before/after: $LOAD_BEFORE / $LOAD_AFTER; build processes seen during the runs: up to $BUSY_MAX${BENCH_NOTE:+; $BENCH_NOTE}"
  echo
  python3 - "$BENCH_TMP" "$ROUNDS" "$peak_rss" "$GW_HWM" <<'EOF'
import json, statistics, sys
tmp, rounds, peak, hwm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rs = [json.load(open(f"{tmp}/round-{r}.json")) for r in range(1, rounds + 1)]
def col(k):
    v = [r[k] for r in rs]
    return statistics.median(v), min(v), max(v)
lps, p50, p99 = col("logins_per_second"), col("p50_ms"), col("p99_ms")
print("| logins/s median (min–max) | login p50 ms median (min–max) | login p99 ms median (min–max) | logins | failed | gateway peak RSS |")
print("|---|---|---|---|---|---|")
print(f"| {lps[0]:.1f} ({lps[1]:.1f}–{lps[2]:.1f}) | {p50[0]:.1f} ({p50[1]:.1f}–{p50[2]:.1f}) "
      f"| {p99[0]:.1f} ({p99[1]:.1f}–{p99[2]:.1f}) | {sum(r['logins'] for r in rs)} "
      f"| {sum(r['errors'] for r in rs)} | {peak // 1024} MiB (VmHWM {hwm // 1024} MiB) |")
print()
print("Per round (logins/s, p50 ms, p99 ms): " + "; ".join(
    f"{r['logins_per_second']:.1f} / {r['p50_ms']:.1f} / {r['p99_ms']:.1f}" for r in rs))
print()
EOF
  echo "Gateway peak RSS after each round (MiB): $ROUND_RSS."
  echo
} >"$REPORT"

publish_report "$REPORT"
