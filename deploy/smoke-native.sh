#!/usr/bin/env bash
# Runs the topology of deploy/compose.yaml without Docker, on loopback ports, and checks it:
# a private PostgreSQL 15 cluster and Redis in a temporary folder, two gateways started with
# deploy/config/convergences.toml and HAProxy with deploy/haproxy.cfg (container host names
# rewritten to 127.0.0.1 ports), an echo upstream in place of whoami. Checks, through the
# load balancer:
#   1. migrate, both instances ready, HAProxy health checks on /healthz;
#   2. password link, login and single sign-on to bip.localhost, with requests landing on both
#      instances (shared Redis sessions, CSRF secret and assertion key; same JWKS);
#   3. /metrics refused on the public frontend, served per instance on the metrics frontends;
#   4. a rolling restart (SIGTERM, restart, one instance after the other) under load: no failed
#      request;
#   5. signing key rotation with assertion.previous_key_files: both keys in the JWKS, the new
#      one signs;
#   6. fail closed: Redis stopped -> 503 and /readyz 503; Redis back -> 200 without restart.
# Needs root (the PostgreSQL cluster runs as user postgres); installs haproxy, nginx, wrk,
# redis-server and postgresql if missing. Environment: BENCH_BIN (skip the build),
# CARGO_TARGET_DIR, KEEP_TMP=1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../bench/lib/common.sh"
[ -n "${KEEP_TMP:-}" ] && BENCH_KEEP_TMP=1

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
PG_DATA=""
stop_all() {
  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  cleanup
}
trap stop_all EXIT

[ "$(id -u)" -eq 0 ] || die "run as root (the PostgreSQL cluster runs as user postgres)"
ensure_packages haproxy:haproxy nginx:nginx wrk:wrk redis-server:redis-server curl:curl openssl:openssl
[ -n "$PG_BIN" ] || ensure_packages psql:postgresql
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
build_gateway
make_tmp
T=$BENCH_TMP
pass() { printf '[smoke] ok: %s\n' "$*" >&2; }

pick_port PG_PORT; pick_port REDIS_PORT; pick_port UP_PORT; pick_port GW1; pick_port GW2
pick_port LB; pick_port M1; pick_port M2

# --- PostgreSQL, Redis, upstream ------------------------------------------------------------
PG_DATA="$T/pg"
install -d -o postgres -m 0700 "$PG_DATA"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -l "$PG_DATA/server.log" \
  -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1" start >/dev/null
runuser -u postgres -- "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE convergences' >/dev/null
pass "PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$PG_PORT"

start_redis() {
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$T" --logfile "$T/redis.log" &
  REDIS_PID=$!
  track_pid "$REDIS_PID"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  die "redis did not start"
}
start_redis
pass "Redis $(redis-server --version | awk '{print $3}') on 127.0.0.1:$REDIS_PORT"

start_nginx upstream "
    server {
        listen 127.0.0.1:$UP_PORT;
        location / {
            default_type text/plain;
            add_header X-Echo-User \$http_x_convergences_user always;
            add_header X-Echo-Assertion \$http_x_convergences_assertion always;
            return 200 \"whoami stand-in\n\";
        }
    }"

# --- configuration, as in compose ----------------------------------------------------------
mkdir -p "$T/keys"
openssl genpkey -algorithm ed25519 -out "$T/keys/assertion-key.pem" 2>/dev/null
chmod 0444 "$T/keys/assertion-key.pem"
METRICS_TOKEN="$(openssl rand -hex 32)"
export_env=(
  "CONVERGENCES_DATABASE__URL=postgres://postgres@127.0.0.1:$PG_PORT/convergences"
  "CONVERGENCES_SECURITY__SECRET=$(openssl rand -hex 32)"
  "CONVERGENCES_SERVER__METRICS_TOKEN=$METRICS_TOKEN"
)
# write_config N PORT [previous keys TOML array]
write_config() {
  local n=$1 port=$2 prev=${3:-[]}
  mkdir -p "$T/gw$n"
  sed -e "s|^listen = \"0.0.0.0:8080\"|listen = \"127.0.0.1:$port\"|" \
    -e "s|http://auth.localhost:8080|http://auth.localhost:$LB|g" \
    -e "s|^data_dir = .*|data_dir = \"$T/gw$n\"|" \
    -e "s|redis://redis:6379|redis://127.0.0.1:$REDIS_PORT|" \
    -e "s|^key_file = \"/etc/convergences/keys/|key_file = \"$T/keys/|" \
    -e "s|^previous_key_files = .*|previous_key_files = $prev|" \
    -e "s|\"whoami:80\"|\"127.0.0.1:$UP_PORT\"|" \
    "$HERE/config/convergences.toml" >"$T/gw$n.toml"
}
write_config 1 "$GW1"
write_config 2 "$GW2"
gwe() { env "${export_env[@]}" "$BENCH_BIN" "$@"; }
for n in 1 2; do
  out="$(gwe check-config --config "$T/gw$n.toml" 2>&1)" || die "check-config: $out"
done
gwe migrate --config "$T/gw1.toml" >"$T/migrate.log" 2>&1 ||
  die "migrate failed: $(cat "$T/migrate.log")"
pass "check-config and migrate with deploy/config/convergences.toml"

declare -A GWPID
start_instance() { # n
  local n=$1 port
  port=$([ "$n" = 1 ] && echo "$GW1" || echo "$GW2")
  (
    export "${export_env[@]}"
    exec "$BENCH_BIN" serve --config "$T/gw$n.toml"
  ) >>"$T/gw$n.log" 2>&1 &
  GWPID[$n]=$!
  track_pid "${GWPID[$n]}"
  wait_http "http://127.0.0.1:$port/readyz" auth.localhost 60 || die "instance $n not ready: $(tail -5 "$T/gw$n.log")"
}
start_instance 1
start_instance 2
pass "two instances ready (/readyz) on 127.0.0.1:$GW1 and :$GW2"

sed -e "s|bind :8080|bind 127.0.0.1:$LB|" -e "s|bind :9101|bind 127.0.0.1:$M1|" -e "s|bind :9102|bind 127.0.0.1:$M2|" \
  -e "s|gateway1:8080|127.0.0.1:$GW1|g" -e "s|gateway2:8080|127.0.0.1:$GW2|g" \
  -e "s|inter 2s|inter 500ms|" \
  "$HERE/haproxy.cfg" >"$T/haproxy.cfg"
haproxy -c -q -f "$T/haproxy.cfg" || die "haproxy -c failed on the rewritten deploy/haproxy.cfg"
haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
track_pid $!
wait_http "http://127.0.0.1:$LB/healthz" auth.localhost 20 || die "no answer through HAProxy"
pass "HAProxy with deploy/haproxy.cfg on 127.0.0.1:$LB"

# --- login and single sign-on through the balancer ---------------------------------------------
EMAIL=admin@cig.example.fr
PASSWORD='Passerelle-Essai-2026!q'
out="$(gwe admin create-platform-admin --config "$T/gw1.toml" --email "$EMAIL" --first-name Camille --last-name Martin 2>&1)"
link="$(grep -o "http://auth\.localhost:$LB/mot-de-passe/[^[:space:]]*" <<<"$out" | head -1)"
[ -n "$link" ] || die "no link in: $out"
gwe admin assign-role --config "$T/gw1.toml" --email "$EMAIL" --app bip --role utilisateur >/dev/null
JAR="$T/jar"
C=(curl -s -m 10 -b "$JAR" -c "$JAR" --resolve "auth.localhost:$LB:127.0.0.1" --resolve "bip.localhost:$LB:127.0.0.1")
csrf="$("${C[@]}" "$link" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')"
code="$("${C[@]}" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" \
  --data-urlencode "password=$PASSWORD" --data-urlencode "confirmation=$PASSWORD" "$link")"
[ "$code" = 303 ] || die "password form through the balancer answered $code"
code="$("${C[@]}" -L -o /dev/null -w '%{http_code}' -H 'Accept: text/html' "http://bip.localhost:$LB/")"
[ "$code" = 200 ] || die "single sign-on to bip.localhost through the balancer ended with $code"
APP="$(awk '$6 == "convergences_app" { print $7 }' "$JAR" | tail -1)"
[ -n "$APP" ] || die "no convergences_app cookie"
for i in $(seq 20); do
  code="$(curl -s -m 5 -D "$T/h" -o /dev/null -w '%{http_code}' -H "Host: bip.localhost:$LB" -H "Cookie: convergences_app=$APP" "http://127.0.0.1:$LB/")"
  [ "$code" = 200 ] || die "request $i through the balancer: $code"
done
grep -qi "^x-echo-user: $EMAIL" "$T/h" || die "upstream did not get X-Convergences-User"
pass "password link, login and single sign-on through the balancer; 20 app requests 200"

count_on() { # metrics port -> proxied bip requests
  curl -s -m 5 -H "Authorization: Bearer $METRICS_TOKEN" "http://127.0.0.1:$1/metrics" |
    awk '/^convergences_requests_total\{/ && /app="bip"/ { s += $NF } END { print s + 0 }'
}
n1=$(count_on "$M1")
n2=$(count_on "$M2")
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || die "requests did not land on both instances ($n1, $n2)"
pass "requests served by both instances ($n1 and $n2), metrics frontends :$M1 and :$M2 work"
code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: auth.localhost' -H "Authorization: Bearer $METRICS_TOKEN" "http://127.0.0.1:$LB/metrics")"
[ "$code" = 404 ] || die "/metrics on the public frontend answered $code (expected 404)"
pass "/metrics refused on the public frontend"
j1="$(curl -s -H 'Host: auth.localhost' "http://127.0.0.1:$GW1/.well-known/jwks.json")"
j2="$(curl -s -H 'Host: auth.localhost' "http://127.0.0.1:$GW2/.well-known/jwks.json")"
[ "$j1" = "$j2" ] && grep -q '"kid"' <<<"$j1" || die "instances publish different JWKS"
pass "same JWKS on both instances"

# --- rolling restart under load ---------------------------------------------------------------
restart_instance() { # n
  local n=$1 t0
  t0=$(date +%s.%N)
  kill -TERM "${GWPID[$n]}"
  wait "${GWPID[$n]}" 2>/dev/null || true
  STOP_SECONDS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  start_instance "$n"
  sleep 1.5 # HAProxy: rise 2 checks at 500 ms
}
wrk_errors() { # wrk output -> "requests non2xx socket_errors"
  awk '/requests in/ { r = $1 } /Non-2xx or 3xx/ { n = $NF }
       /Socket errors/ { gsub(",", ""); s = $4 + $6 + $8 + $10 }
       END { printf "%d %d %d\n", r, n, s }' "$1"
}
# Baseline without restarts, to tell restart failures from load-generator artefacts.
wrk -t2 -c8 -d10s --timeout 5s -H "Host: bip.localhost:$LB" -H "Cookie: convergences_app=$APP" \
  "http://127.0.0.1:$LB/" >"$T/wrk-baseline.txt" 2>&1
read -r breqs bnon bsock < <(wrk_errors "$T/wrk-baseline.txt")
pass "baseline through the balancer, no restart: $breqs requests, $bnon non-2xx, $bsock socket errors"
wrk -t2 -c8 -d35s --timeout 5s -H "Host: bip.localhost:$LB" -H "Cookie: convergences_app=$APP" \
  "http://127.0.0.1:$LB/" >"$T/wrk-rolling.txt" 2>&1 &
WRK=$!
sleep 3
restart_instance 1
s1=$STOP_SECONDS
sleep 3
restart_instance 2
s2=$STOP_SECONDS
wait "$WRK"
read -r reqs non sock < <(wrk_errors "$T/wrk-rolling.txt")
if [ "$non" -eq 0 ] && [ "$sock" -le "$bsock" ]; then
  pass "rolling restart under load (SIGTERM took $s1 s and $s2 s): $reqs requests, none failed"
else
  ROLLING_FAIL="rolling restart: $non non-2xx answers and $sock socket errors (baseline $bsock) out of $reqs requests"
  printf '[smoke] FAILED: %s\n' "$ROLLING_FAIL" >&2
fi

# --- key rotation -----------------------------------------------------------------------------
old_kid="$(grep -o '"kid":"[^"]*"' <<<"$j1" | head -1)"
mv "$T/keys/assertion-key.pem" "$T/keys/assertion-key-old.pem"
openssl genpkey -algorithm ed25519 -out "$T/keys/assertion-key.pem" 2>/dev/null
chmod 0444 "$T/keys/assertion-key.pem"
write_config 1 "$GW1" "[\"$T/keys/assertion-key-old.pem\"]"
write_config 2 "$GW2" "[\"$T/keys/assertion-key-old.pem\"]"
restart_instance 1
restart_instance 2
jwks="$(curl -s -H 'Host: auth.localhost' "http://127.0.0.1:$LB/.well-known/jwks.json")"
nkeys="$(grep -o '"kid"' <<<"$jwks" | wc -l)"
[ "$nkeys" -eq 2 ] && grep -q "$old_kid" <<<"$jwks" || die "JWKS after rotation: $jwks"
code="$(curl -s -D "$T/h" -o /dev/null -w '%{http_code}' -H "Host: bip.localhost:$LB" -H "Cookie: convergences_app=$APP" "http://127.0.0.1:$LB/")"
[ "$code" = 200 ] || die "after the rotation restarts the session answered $code"
jwt="$(tr -d '\r' <"$T/h" | awk -F': ' 'tolower($1) == "x-echo-assertion" { print $2 }')"
hdr="$(cut -d. -f1 <<<"$jwt" | tr '_-' '/+')"
while [ $((${#hdr} % 4)) -ne 0 ]; do hdr="$hdr="; done
new_kid="$(base64 -d <<<"$hdr" 2>/dev/null | grep -o '"kid":"[^"]*"')"
[ -n "$new_kid" ] && [ "$new_kid" != "$old_kid" ] && grep -q "$new_kid" <<<"$jwks" ||
  die "assertion not signed with the new key (kid $new_kid, old $old_kid)"
pass "key rotation: JWKS lists both keys, assertions signed by the new one; sessions survived the restarts"

# --- fail closed -----------------------------------------------------------------------------
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
sleep 1
code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Host: bip.localhost:$LB" -H "Cookie: convergences_app=$APP" "http://127.0.0.1:$LB/")"
ready="$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'Host: auth.localhost' "http://127.0.0.1:$GW1/readyz")"
[ "$code" = 503 ] && [ "$ready" = 503 ] || die "Redis down: app request $code, /readyz $ready (expected 503, 503)"
pass "Redis down: application request 503, /readyz 503 (fail closed)"
start_redis
# First application request on each instance once Redis is back (observation, not a check).
first=""
for port in "$GW1" "$GW2"; do
  first="$first $(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Host: bip.localhost:$LB" -H "Cookie: convergences_app=$APP" "http://127.0.0.1:$port/")"
done
printf '[smoke] note: first application request on each instance after Redis came back:%s\n' "$first" >&2
for port in "$GW1" "$GW2"; do
  recovered=""
  for _ in $(seq 30); do
    code="$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Host: auth.localhost' "http://127.0.0.1:$port/readyz")"
    [ "$code" = 200 ] && recovered=1 && break
    sleep 0.5
  done
  [ -n "$recovered" ] || die "Redis back: /readyz of 127.0.0.1:$port still $code after 15 s"
done
# The Redis restarted empty (no persistence here): the session is gone, a browser is sent to
# log in again, an API client gets 401.
code="$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Host: bip.localhost:$LB" -H "Cookie: convergences_app=$APP" "http://127.0.0.1:$LB/")"
[ "$code" = 401 ] || die "Redis back (empty): expected 401 for the lost session, got $code"
pass "Redis back: ready again without restart; the lost session gets 401"

if [ -n "${ROLLING_FAIL:-}" ]; then
  die "$ROLLING_FAIL (everything else passed)"
fi
printf '[smoke] all checks passed\n' >&2
