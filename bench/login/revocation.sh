#!/usr/bin/env bash
# Cross-instance revocation benchmark: two `convergences serve` instances (release build)
# sharing one database and one Redis, one upstream application. ITERATIONS times for each
# revocation (logout, and the administrator's lock of the account): log in on instance 1,
# single sign-on handshake to the application host on instance 2, a proxied request through
# instance 2 (200), revoke on instance 1, then poll instance 2 until it refuses (401). Reports
# the time from the revoking response to the first refusal (p50, p99, max; target <= 1 s),
# appends to bench/RESULTS.md. See bench/README.md.
#
# Environment: ITERATIONS (50), WARMUP (2), MODES (logout,lock), TIMEOUT (5 s per sample),
# POLL_INTERVAL_MS (0: poll back to back),
# BENCH_REDIS_URL (redis://127.0.0.1:6379; a private redis-server is started when nothing
# answers there and the variable is unset), BENCH_DATABASE_URL (PostgreSQL base URL on
# loopback; default: a SQLite file), GATEWAY_THREADS (2), BENCH_BIN (skip the build),
# CARGO_TARGET_DIR, RESULTS_FILE (bench/RESULTS.md; "-" for none), BENCH_NOTE, BENCH_KEEP_TMP=1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib/common.sh"

ITERATIONS=${ITERATIONS:-50}
WARMUP=${WARMUP:-2}
MODES=${MODES:-logout,lock}
TIMEOUT=${TIMEOUT:-5}
POLL_INTERVAL_MS=${POLL_INTERVAL_MS:-0}
RESULTS_FILE=${RESULTS_FILE:-$BENCH_ROOT/bench/RESULTS.md}
PASSWORD='Mesure-Revocation-2026!xq'
ADMIN_PASSWORD='Verrou-Gestion-2026!zq'
[[ $ITERATIONS =~ ^[0-9]+$ ]] && [ "$ITERATIONS" -gt 0 ] && [ "$ITERATIONS" -le 1000 ] ||
  die "ITERATIONS must be in 1..1000"
[[ $WARMUP =~ ^[0-9]+$ ]] && [ "$WARMUP" -le 100 ] || die "WARMUP must be in 0..100"
[[ $TIMEOUT =~ ^[0-9]+$ ]] && [ "$TIMEOUT" -gt 0 ] && [ "$TIMEOUT" -le 60 ] || die "TIMEOUT must be in 1..60"
[[ $POLL_INTERVAL_MS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "POLL_INTERVAL_MS must be a number of milliseconds"
[[ $MODES =~ ^(logout|lock)(,(logout|lock))*$ ]] || die "MODES: logout, lock or both (comma-separated)"

loopback_url() { # URL -> true if its host is a loopback address
  local hostport=${1#*://}
  hostport=${hostport#*@}
  hostport=${hostport%%/*}
  case $hostport in 127.0.0.1* | localhost* | "[::1]"*) return 0 ;; *) return 1 ;; esac
}

REDIS_URL="" PREFIX="" PG_BASE="" PG_SCHEMA=""
declare -a GW_PIDS=()
finish() {
  local rc=$? p
  # Stop the gateways first, so that nothing writes keys while they are deleted.
  for p in "${GW_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${GW_PIDS[@]}"; do
    for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  if [ -n "$PREFIX" ] && [ -n "$REDIS_URL" ]; then
    redis-cli -u "$REDIS_URL" --scan --pattern "${PREFIX}*" 2>/dev/null |
      xargs -r -n 200 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
  if [ -n "$PG_SCHEMA" ]; then
    psql "$PG_BASE" -qc "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1 ||
      log "warning: could not drop schema $PG_SCHEMA"
  fi
  (exit "$rc")
  cleanup
}
trap finish EXIT

ensure_packages curl:curl python3:python3 redis-cli:redis-tools
[ -n "${BENCH_DATABASE_URL:-}" ] && ensure_packages psql:postgresql-client
build_gateway
make_tmp
T=$BENCH_TMP
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
pick_port GW1
pick_port GW2
pick_port UP_PORT

# --- Redis ----------------------------------------------------------------------------------
if [ -n "${BENCH_REDIS_URL:-}" ]; then
  loopback_url "$BENCH_REDIS_URL" || die "BENCH_REDIS_URL must be on the loopback"
  REDIS_URL=$BENCH_REDIS_URL
  redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG || die "no Redis answers at $REDIS_URL"
  REDIS_DESC="Redis at $REDIS_URL"
elif redis-cli -u redis://127.0.0.1:6379 ping 2>/dev/null | grep -q PONG; then
  REDIS_URL=redis://127.0.0.1:6379
  REDIS_DESC="the machine's Redis at $REDIS_URL"
else
  ensure_packages redis-server:redis-server
  pick_port REDIS_PORT
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$T" --logfile "$T/redis.log" &
  track_pid $!
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  for _ in $(seq 50); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG || die "the private redis-server did not start"
  REDIS_DESC="a private redis-server at $REDIS_URL"
fi
REDIS_VERSION="$(redis-cli -u "$REDIS_URL" info server 2>/dev/null | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }')"
PREFIX="bench-revocation-$(date +%s)-$$-$RANDOM:"
log "sessions in $REDIS_DESC (Redis $REDIS_VERSION), prefix $PREFIX"

# --- database -------------------------------------------------------------------------------
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  loopback_url "$BENCH_DATABASE_URL" || die "BENCH_DATABASE_URL must be on the loopback"
  PG_BASE=$BENCH_DATABASE_URL
  PG_SCHEMA="bench_revocation_$(date +%s)_$$"
  psql "$PG_BASE" -qc "CREATE SCHEMA $PG_SCHEMA" >/dev/null || die "cannot create schema $PG_SCHEMA in $PG_BASE"
  case $PG_BASE in *\?*) sep='&' ;; *) sep='?' ;; esac
  DB_URL="${PG_BASE}${sep}options=-c%20search_path%3D${PG_SCHEMA}"
  DB_DESC="PostgreSQL $(psql "$PG_BASE" -tAc 'SHOW server_version' 2>/dev/null | awk '{print $1}') (schema $PG_SCHEMA, dropped at the end)"
else
  DB_URL="sqlite://$T/shared.db?mode=rwc"
  DB_DESC="one SQLite file shared by both processes"
fi

# --- upstream -------------------------------------------------------------------------------
python3 "$HERE/revocation.py" upstream --port "$UP_PORT" >"$T/upstream.log" 2>&1 &
track_pid $!
wait_http "http://127.0.0.1:$UP_PORT/" bench.localhost 10 || die "the upstream did not start: $(cat "$T/upstream.log")"

# --- two gateways -----------------------------------------------------------------------------
SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
write_config() { # N PORT
  local n=$1 port=$2
  mkdir -p "$T/gw$n/data"
  cat >"$T/gw$n/convergences.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
portal_host = "auth.localhost"
data_dir = "$T/gw$n/data"
threads = ${GATEWAY_THREADS:-2}
grace_period_seconds = 0
graceful_shutdown_timeout_seconds = 1

[database]
url = "$DB_URL"

[sessions]
store = "redis"
redis_url = "$REDIS_URL"
redis_prefix = "$PREFIX"

[assertion]
key_file = "$T/assertion-key.pem"

[security]
secret = "$SECRET"
attempts_per_ip_per_minute = 1000000

[[apps]]
slug = "bench"
name = "Bench"
description = "Benchmark upstream"
host = "bench.localhost"
upstreams = ["127.0.0.1:$UP_PORT"]
EOF
  gw check-config --config "$T/gw$n/convergences.toml" >"$T/gw$n/check-config.log" 2>&1 ||
    die "check-config of instance $n failed: $(cat "$T/gw$n/check-config.log")"
}
write_config 1 "$GW1"
write_config 2 "$GW2"
gw migrate --config "$T/gw1/convergences.toml" >"$T/migrate.log" 2>&1 || die "migrate failed: $(cat "$T/migrate.log")"

GATEWAY_LOG_LEVEL=warn
if ! GW_ENV=CONVERGENCES_LOG=warn gw check-config --config "$T/gw1/convergences.toml" >/dev/null 2>&1; then
  GATEWAY_LOG_LEVEL="info (this version refuses CONVERGENCES_LOG)"
fi
start_instance() { # N PORT
  local n=$1 port=$2
  if [ "$GATEWAY_LOG_LEVEL" = warn ]; then
    RUST_LOG=warn GW_ENV=CONVERGENCES_LOG=warn gw_bg serve --config "$T/gw$n/convergences.toml" \
      >"$T/gw$n/gateway.log" 2>&1 &
  else
    RUST_LOG=warn gw_bg serve --config "$T/gw$n/convergences.toml" >"$T/gw$n/gateway.log" 2>&1 &
  fi
  GW_PIDS+=($!)
  track_pid $!
  wait_http "http://127.0.0.1:$port/readyz" auth.localhost 60 ||
    die "instance $n not ready after 60 s; log: $(tail -20 "$T/gw$n/gateway.log")"
}
# One after the other: the first creates the shared assertion key.
start_instance 1 "$GW1"
start_instance 2 "$GW2"
log "instances on 127.0.0.1:$GW1 and 127.0.0.1:$GW2 ($DB_DESC), upstream on :$UP_PORT"

# Accounts (through instance 1's configuration): the administrator who locks, the user.
GATEWAY_CONFIG="$T/gw1/convergences.toml"
mkdir -p "$T/gateway"
ADMIN_EMAIL=admin@bench.example.fr
USER_EMAIL=agent@bench.example.fr
create_bench_user "$GW1" "$ADMIN_EMAIL" "$ADMIN_PASSWORD"
create_bench_user "$GW1" "$USER_EMAIL" "$PASSWORD"
log "accounts ready; $ITERATIONS iterations (+$WARMUP warm-up) of: $MODES"

BUSY_BEFORE=$(busy_processes)
python3 "$HERE/revocation.py" measure --port1 "$GW1" --port2 "$GW2" \
  --email "$USER_EMAIL" --password "$PASSWORD" \
  --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" \
  --iterations "$ITERATIONS" --warmup "$WARMUP" --modes "$MODES" --timeout "$TIMEOUT" \
  --redis-url "$REDIS_URL" --channel "${PREFIX}events" --poll-interval "$POLL_INTERVAL_MS" \
  >"$T/result.json" 2>"$T/measure.log" || die "measure failed: $(tail -5 "$T/measure.log")"
BUSY_AFTER=$(busy_processes)
BUSY_MAX=$((BUSY_BEFORE > BUSY_AFTER ? BUSY_BEFORE : BUSY_AFTER))
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
for n in 1 2; do
  kill -0 "${GW_PIDS[$((n - 1))]}" 2>/dev/null || die "instance $n died: $(tail -20 "$T/gw$n/gateway.log")"
done

REPORT="$T/report.md"
{
  echo "### Revocation across instances — $STARTED"
  echo
  echo "- Machine: $(machine_description)"
  echo "- Binary: $BUILD_DESC; two instances (server.threads = ${GATEWAY_THREADS:-2} each) on $DB_DESC; sessions in $REDIS_DESC (Redis $REDIS_VERSION, own key prefix); upstream: Python http.server; log level $GATEWAY_LOG_LEVEL"
  echo "- $ITERATIONS samples per revocation (+$WARMUP warm-up): log in on instance 1, single sign-on handshake to bench.localhost on instance 2, proxied request through instance 2 (200, identity header checked), revoke on instance 1 (logout: the user posts the logout form; lock: the administrator posts the lock form of the account card), then the same proxied request to instance 2 in a loop on one keep-alive connection ($( [ "$POLL_INTERVAL_MS" = 0 ] && echo "back to back" || echo "$POLL_INTERVAL_MS ms apart")) until it answers 401. Sample = time from the revoking response to the 401, i.e. including one request round trip; below 100 samples p99 is the largest. \"Event on Redis\": when a subscriber of the benchmark's own received the revocation event (pub/sub), relative to the revoking response (negative: before it)"
  echo "- Load average before/after: $LOAD_BEFORE / $LOAD_AFTER; build processes seen before/after the runs: up to $BUSY_MAX${BENCH_NOTE:+; $BENCH_NOTE}"
  echo
  python3 - "$T/result.json" "$TIMEOUT" <<'EOF'
import json, sys
d, timeout = json.load(open(sys.argv[1])), sys.argv[2]
print("| revocation | samples | p50 ms | p99 ms | max ms | refused at the first request | timeouts (> " + timeout + " s) | ≤ 1 s | event on Redis p50 / max ms | revoking request p50 ms | proxied request p50 ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for mode, o in d.items():
    ok = o["timeouts"] == 0 and o["n"] > 0 and o["max_ms"] <= 1000.0
    seen = len(o["polls"])
    ev = (f"{o['event_p50_ms']:+.1f} / {o['event_max_ms']:+.1f}" if o["events_seen"] else "none seen")
    if o["events_seen"] and o["events_seen"] < seen:
        ev += f" ({o['events_seen']} of {seen} seen)"
    print(f"| {mode} | {o['n']} | {o['p50_ms']:.1f} | {o['p99_ms']:.1f} | {o['max_ms']:.1f} "
          f"| {o['first_poll_refused']} of {seen} | {o['timeouts']} | {'met' if ok else '**MISSED**'} "
          f"| {ev} | {o['revoke_request_p50_ms']:.1f} | {o['probe_rtt_p50_ms']:.1f} |")
print()
for mode, o in d.items():
    print(f"Requests to instance 2 until refused ({mode}): max {max(o['polls'])}, "
          f"mean {sum(o['polls']) / len(o['polls']):.1f}.")
print()
EOF
} >"$REPORT"

publish_report "$REPORT"
