#!/usr/bin/env bash
# Chaos benchmark: steady keep-alive load through two gateway instances sharing a PostgreSQL
# and a Redis that this script starts on loopback ports of its own (never the machine's own
# servers); kills and restarts Redis, then PostgreSQL, then one of two upstreams, then one
# gateway instance; reports per second the answers by status and their latency, and per fault
# the answers during the outage, their p99, requests let through unchecked (an oracle: a
# session revoked must be refused), time to recover, sessions lost, memory and descriptor
# peaks. See bench/README.md.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"

CLIENTS=${CLIENTS:-10}
DOWN=${DOWN:-5}
DB_DOWN=${DB_DOWN:-15}
SETTLE=${SETTLE:-6}
WARMUP=${WARMUP:-5}
REDIS_FSYNC=${REDIS_FSYNC:-always}
GRACE=${GRACE:-0}
FAULTS=${FAULTS:-redis,postgres,upstream,gateway}
RESULTS_FILE=${RESULTS_FILE:-$BENCH_ROOT/bench/RESULTS.md}
case "$REDIS_FSYNC" in always | everysec | no) ;; *) die "REDIS_FSYNC must be always, everysec or no" ;; esac
[ "$CLIENTS" -ge 2 ] && [ "$CLIENTS" -le 64 ] || die "CLIENTS must be between 2 and 64"

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/pg_ctl" ] || die "PostgreSQL's programs not found (apt-get install postgresql)"
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)

chaos_cleanup() {
  local rc=$?
  # Past here nothing may stop the cleanup half-way (errexit would, on a failed run).
  set +e
  if [ -n "${PG_DATA:-}" ] && [ -d "$PG_DATA" ]; then
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -n "${BENCH_TMP:-}" ] && [ -f "$BENCH_TMP/pids" ]; then
    while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$BENCH_TMP/pids"
  fi
  (exit "$rc")
  cleanup
}
trap chaos_cleanup EXIT

ensure_packages redis-server:redis-server curl:curl python3:python3
build_gateway
make_tmp
: >"$BENCH_TMP/pids"

pick_port REDIS_PORT
pick_port PG_PORT
pick_port UP1
pick_port UP2
pick_port GW1
pick_port GW2

# Redis with an append-only file (the persistence is part of the result).
mkdir -p "$BENCH_TMP/redis"
REDIS_CMD=(redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly yes
  --appendfsync "$REDIS_FSYNC" --dir "$BENCH_TMP/redis")
"${REDIS_CMD[@]}" >"$BENCH_TMP/redis/redis.log" 2>&1 &
track_pid $!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break; sleep 0.1; done

# PostgreSQL in the temporary folder.
PG_DIR="$BENCH_TMP/pg"
PG_DATA="$PG_DIR/data"
mkdir -p "$PG_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
log "initdb (PostgreSQL $(basename "$(dirname "$PG_BIN")")) on port $PG_PORT"
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
  die "initdb failed: $(tail -5 "$PG_DIR/initdb.log")"
PG_OPTS="-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR -c max_connections=100"
PG_START=("${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -o "$PG_OPTS" -w -t 60 start)
PG_STOP=("${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop)
"${PG_START[@]}" >/dev/null || die "PostgreSQL did not start: $(tail -5 "$PG_DIR/server.log")"

# Two upstreams.
for n in 1 2; do
  port_var="UP$n"
  python3 "$HERE/chaos.py" upstream "${!port_var}" "u$n" >"$BENCH_TMP/upstream$n.log" 2>&1 &
  track_pid $!
done

# Two gateway instances: same database, Redis, key, secret and cookie domain.
SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
write_config() {
  local dir=$1 port=$2
  mkdir -p "$dir/data"
  cat >"$dir/convergences.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
portal_host = "auth.localhost"
public_url = "http://auth.localhost:$GW1"
data_dir = "$dir/data"
threads = ${GATEWAY_THREADS:-2}
grace_period_seconds = 0
graceful_shutdown_timeout_seconds = 1
metrics_token = "$METRICS_TOKEN"
[database]
url = "postgres://postgres@127.0.0.1:$PG_PORT/postgres"
max_connections = 8
[sessions]
store = "redis"
redis_url = "redis://127.0.0.1:$REDIS_PORT"
redis_prefix = "chaos:"
cookie_domain = "localhost"
[assertion]
key_file = "$BENCH_TMP/assertion-key.pem"
[security]
secret = "$SECRET"
[resilience]
directory_grace_seconds = $GRACE

[[apps]]
slug = "bench"
name = "Bench"
description = "Chaos benchmark upstreams"
host = "bench.localhost"
upstreams = ["127.0.0.1:$UP1", "127.0.0.1:$UP2"]
TOML
}
GATEWAY_DIR1="$BENCH_TMP/gateway"
GATEWAY_DIR2="$BENCH_TMP/gateway2"
write_config "$GATEWAY_DIR1" "$GW1"
write_config "$GATEWAY_DIR2" "$GW2"
GATEWAY_CONFIG="$GATEWAY_DIR1/convergences.toml"
gw check-config --config "$GATEWAY_CONFIG" >/dev/null || die "check-config failed"
start_instance() {
  local dir=$1 port=$2
  GW_ENV=CONVERGENCES_LOG=warn gw_bg serve --config "$dir/convergences.toml" >>"$dir/gateway.log" 2>&1 &
  local pid=$!
  track_pid "$pid"
  wait_http "http://127.0.0.1:$port/healthz" auth.localhost 60 || die "instance on $port not ready: $(tail -5 "$dir/gateway.log")"
  printf '%s' "$pid"
}
GW1_PID=$(start_instance "$GATEWAY_DIR1" "$GW1")
GW2_PID=$(start_instance "$GATEWAY_DIR2" "$GW2")
# (start_instance ran in a subshell: register the PIDs here too.)
track_pid "$GW1_PID"
track_pid "$GW2_PID"

PASSWORD='Mesure-Pannes-2026!xq'
create_bench_user "$GW1" load@chaos.example.fr "$PASSWORD"
create_bench_user "$GW1" victim@chaos.example.fr "$PASSWORD"

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY_BEFORE="$(busy_processes)"
cat >"$BENCH_TMP/plan.json" <<JSON
{
  "instances": [
    {"port": $GW1, "pid": $GW1_PID, "cmd": ["$BENCH_BIN", "serve", "--config", "$GATEWAY_DIR1/convergences.toml"],
     "env": {"CONVERGENCES_LOG": "warn"}, "log": "$GATEWAY_DIR1/gateway.log"},
    {"port": $GW2, "pid": $GW2_PID, "cmd": ["$BENCH_BIN", "serve", "--config", "$GATEWAY_DIR2/convergences.toml"],
     "env": {"CONVERGENCES_LOG": "warn"}, "log": "$GATEWAY_DIR2/gateway.log"}
  ],
  "redis": {"pid": ${BENCH_PIDS[0]}, "cmd": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${REDIS_CMD[@]}"), "log": "$BENCH_TMP/redis/redis.log"},
  "redis_port": $REDIS_PORT,
  "postgres": {"stop": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${PG_STOP[@]}"),
               "start": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${PG_START[@]}")},
  "upstreams": [
    {"port": $UP1, "pid": ${BENCH_PIDS[1]}, "cmd": ["python3", "$HERE/chaos.py", "upstream", "$UP1", "u1"], "log": "$BENCH_TMP/upstream1.log"},
    {"port": $UP2, "pid": ${BENCH_PIDS[2]}, "cmd": ["python3", "$HERE/chaos.py", "upstream", "$UP2", "u2"], "log": "$BENCH_TMP/upstream2.log"}
  ],
  "pidfile": "$BENCH_TMP/pids",
  "prefix": "chaos:",
  "portal_host": "auth.localhost",
  "app_host": "bench.localhost",
  "session_cookie": "convergences_session",
  "email": "load@chaos.example.fr",
  "victim_email": "victim@chaos.example.fr",
  "password": "$PASSWORD",
  "clients": $CLIENTS,
  "warmup": $WARMUP,
  "down": $DOWN,
  "db_down": $DB_DOWN,
  "settle": $SETTLE,
  "faults": "$FAULTS"
}
JSON
log "load: $CLIENTS keep-alive clients over 2 instances; faults: $FAULTS (about $((WARMUP + 3 * (DOWN + SETTLE) + DB_DOWN + SETTLE)) s)"
set +e
python3 "$HERE/chaos.py" run "$BENCH_TMP/plan.json" "$BENCH_TMP/report-body.md"
CHAOS_RC=$?
set -e
[ -s "$BENCH_TMP/report-body.md" ] || die "the client wrote no report (exit $CHAOS_RC)"

{
  printf '## Chaos: faults under load (%s)\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf -- '- machine: %s\n' "$(machine_description)"
  printf -- '- build: %s\n' "$BUILD_DESC"
  printf -- '- load average before / after: %s / %s; compiler processes seen: %s / %s\n' \
    "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" "$BUSY_BEFORE" "$(busy_processes)"
  printf -- '- two instances (`server.threads = %s`), PostgreSQL %s and Redis %s of the script on loopback ports; Redis persistence: `appendonly yes`, `appendfsync %s`\n' \
    "${GATEWAY_THREADS:-2}" "$(basename "$(dirname "$PG_BIN")")" "$(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)" "$REDIS_FSYNC"
  printf -- '- `[resilience]` defaults, `directory_grace_seconds = %s`; %s keep-alive clients (Python, one session each, half on each instance), outages of %s s (PostgreSQL %s s, longer than the 10 s identity cache), %s s between faults\n' \
    "$GRACE" "$CLIENTS" "$DOWN" "$DB_DOWN" "$SETTLE"
  printf -- '- oracle: for each fault a session of another user is revoked as another instance would (deleted from Redis, event published), right before the Redis outage or 1 s into the others; two clients (one per instance) keep using it\n'
  [ -n "${BENCH_NOTE:-}" ] && printf -- '- note: %s\n' "$BENCH_NOTE"
  printf '\n'
  cat "$BENCH_TMP/report-body.md"
  printf '\n'
} >"$BENCH_TMP/report.md"
publish_report "$BENCH_TMP/report.md"
exit "$CHAOS_RC"
