#!/usr/bin/env bash
# Proxy overhead benchmark (docs/product.md#performance-targets): the same small upstream
# measured
#   (a) directly, (b) through nginx as a plain reverse proxy, (d) through a bare Pingora proxy
#   (bench/proxy/bare_proxy.rs: same Pingora, same threads and layout, no authentication),
#   (h) through the same bare proxy adding one header as long as the identity lines the gateway
#   sends (measured before the load on /__request-length: what any proxy that tells the
#   application who the user is must write and the upstream must read),
#   (c) through Convergences with one user's authenticated single sign-on cookie on every
#   request, (e) through Convergences with the cookies of SESSIONS signed-in users spread over
#   the connections (identity headers and a signed assertion on every request),
# interleaved a b d h c e ... for ROUNDS rounds of DURATION seconds at CONNECTIONS connections
# (wrk --latency), with the peak RSS of each server and the new upstream connections each
# proxy opened during its runs. Prints a table and appends it to bench/RESULTS.md. See
# bench/README.md.
#
# Environment: ROUNDS (3), DURATION (10 s), WARMUP (3 s), CONNECTIONS (50), WRK_THREADS (2),
# SESSIONS (1000), GATEWAY_THREADS (2), GATEWAY_THREADING (per_thread), GATEWAY_WORK_STEALING
# (true; shared layout only), GATEWAY_IDENTITY_SECONDS (server.identity_cache_seconds; unset:
# the gateway's default, 10),
# BENCH_BIN (skip the build), BARE_BIN, CARGO_TARGET_DIR,
# RESULTS_FILE (bench/RESULTS.md; "-" to not write), BENCH_NOTE (free text for RESULTS.md),
# BENCH_KEEP_TMP=1 (keep configs and logs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/measure.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-50}
WRK_THREADS=${WRK_THREADS:-2}
SESSIONS=${SESSIONS:-1000}
# PROFILE=callgrind: instructions per request of (d), (h), (c) and (e) under valgrind's callgrind;
# PROFILE=strace: system calls (futex among them) per request, strace attached during a run.
# Both are counts, not times: what a shared, noisy machine still measures faithfully.
# PROFILE=perf: where the server's CPU time goes (perf sampling attached during a run, shares
# by function): unlike callgrind it does not slow the 1 000 sign-ins before the load, so it is
# the way to see what many sessions cost; shares, not totals, survive a noisy machine.
# PROFILE=events: what the kernel counts for the server during a run (perf stat's software
# events: context switches, CPU migrations, page faults, CPU time), per request: the costs a
# function profile does not show, such as memory given back to the kernel and faulted in again.
PROFILE=${PROFILE:-}
PROFILE_ON="" PROFILE_OFF=""
# TLS=1: also (f) nginx and (g) Convergences over TLS with one certificate (keep-alive requests
# in the rounds, then handshakes per second, new and resumed, with openssl s_time).
TLS=${TLS:-1}
HANDSHAKE_SECONDS=${HANDSHAKE_SECONDS:-5}
case $PROFILE in "" | callgrind | strace | perf | events) ;; *) die "PROFILE must be callgrind, strace, perf or events" ;; esac
GATEWAY_THREADING=${GATEWAY_THREADING:-per_thread}
GATEWAY_IDENTITY_SECONDS=${GATEWAY_IDENTITY_SECONDS:-}
RESULTS_FILE=${RESULTS_FILE:-$BENCH_ROOT/bench/RESULTS.md}
EMAIL=bench@bench.example.fr
PASSWORD='Mesure-Debit-2026!xq'
case $GATEWAY_THREADING in per_thread | shared) ;; *) die "GATEWAY_THREADING must be per_thread or shared" ;; esac
for v in ROUNDS DURATION WARMUP CONNECTIONS WRK_THREADS SESSIONS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer"
done
[ -z "$GATEWAY_IDENTITY_SECONDS" ] || [[ $GATEWAY_IDENTITY_SECONDS =~ ^[0-9]+$ ]] || die "GATEWAY_IDENTITY_SECONDS must be a number of seconds"
[ "$DURATION" -le 600 ] || die "DURATION is capped at 600 s"
[ "$ROUNDS" -le 50 ] || die "ROUNDS is capped at 50"
[ "$SESSIONS" -le 100000 ] || die "SESSIONS is capped at 100000"

trap cleanup EXIT
ensure_packages nginx:nginx wrk:wrk curl:curl sqlite3:sqlite3 python3:python3
case $PROFILE in
  callgrind) ensure_packages valgrind:valgrind ;;
  strace) ensure_packages strace:strace ;;
  perf | events) ensure_packages perf:linux-perf ;;
esac
WRAPPER=""
if [ "$PROFILE" = callgrind ]; then
  # Instrumentation off until the measured window (start-up and sign-ins run at valgrind's
  # plain speed); one output file per process.
  WRAPPER="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=%q{BENCH_TMP}/callgrind.%p"
  # CALLGRIND_CACHE=1: also valgrind's model of the caches (first-level and last-level misses,
  # instructions and data): what instruction counts alone do not see, approximately.
  [ "${CALLGRIND_CACHE:-0}" = 1 ] && WRAPPER="$WRAPPER --cache-sim=yes"
  GATEWAY_START_SECONDS=600
fi
build_gateway
build_bare_proxy
make_tmp
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

pick_port UP_PORT
pick_port NGINX_PORT
pick_port GW_PORT
pick_port BARE_PORT
pick_port BAREH_PORT
pick_port NGINX_TLS_PORT
pick_port GW_TLS_PORT
NGINX_TLS=""
if [ "$TLS" = 1 ]; then
  # One self-signed P-256 certificate for both TLS proxies.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.localhost \
    -addext "subjectAltName=DNS:bench.localhost,DNS:auth.localhost" \
    -keyout "$BENCH_TMP/key.pem" -out "$BENCH_TMP/cert.pem" 2>/dev/null || die "openssl could not make the certificate"
  chmod 644 "$BENCH_TMP/key.pem"
  NGINX_TLS="
    server {
        listen 127.0.0.1:$NGINX_TLS_PORT ssl http2 backlog=4096;
        ssl_certificate $BENCH_TMP/cert.pem;
        ssl_certificate_key $BENCH_TMP/key.pem;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
        }
    }"
fi

log "upstream (nginx, fixed 200) on 127.0.0.1:$UP_PORT"
start_upstream "$UP_PORT"
wait_http "http://127.0.0.1:$UP_PORT/" bench.localhost 20 || die "upstream did not start: $(cat "$BENCH_TMP/upstream/error.log")"

log "nginx plain reverse proxy on 127.0.0.1:$NGINX_PORT"
start_nginx proxy "
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
        }
    }$NGINX_TLS" 2
PROXY_PID=$NGINX_PID
wait_http "http://127.0.0.1:$NGINX_PORT/" bench.localhost 20 || die "nginx proxy did not start: $(cat "$BENCH_TMP/proxy/error.log")"

# clone_users N: users u1..uN@bench.example.fr, copies of $EMAIL (structure, password hash, not
# platform administrators) with its role of app bench, written straight into the SQLite file.
clone_users() {
  local n=$1 db="$BENCH_TMP/gateway/data/convergences.db"
  [ -f "$db" ] || die "no SQLite database at $db"
  sqlite3 "$db" >/dev/null "PRAGMA busy_timeout = 10000;
    WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $n)
    INSERT INTO users (uid, email, last_name, first_name, structure_id, password_hash,
                       created_at, updated_at, password_changed_at)
      SELECT 'bench-' || i, 'u' || i || '@bench.example.fr', 'Utilisateur ' || i, 'Bench',
             u.structure_id, u.password_hash, u.created_at, u.updated_at, u.password_changed_at
      FROM seq, users u WHERE u.email = '$EMAIL';
    INSERT INTO role_assignments (user_id, role_id, structure_id, created_at)
      SELECT c.id, r.role_id, r.structure_id, r.created_at
      FROM users c, users u JOIN role_assignments r ON r.user_id = u.id
      WHERE u.email = '$EMAIL' AND c.email LIKE 'u%@bench.example.fr';" ||
    die "could not copy the bench user in $db"
}

log "bare Pingora proxy ($BARE_BIN) on 127.0.0.1:$BARE_PORT"
BENCH_TMP=$BENCH_TMP $WRAPPER "$BARE_BIN" "127.0.0.1:$BARE_PORT" "127.0.0.1:$UP_PORT" "${GATEWAY_THREADS:-2}" "$GATEWAY_THREADING" \
  "${GATEWAY_WORK_STEALING:-true}" >"$BENCH_TMP/bare.log" 2>&1 &
BARE_PID=$!
track_pid "$BARE_PID"
wait_http "http://127.0.0.1:$BARE_PORT/" bench.localhost "${GATEWAY_START_SECONDS:-20}" || die "bare proxy did not start: $(tail -5 "$BENCH_TMP/bare.log")"

log "Convergences ($BENCH_BIN) on 127.0.0.1:$GW_PORT"
# Many users sign in from 127.0.0.1: the per-IP login limit would refuse most of them.
GATEWAY_EXTRA_TOML="threading = \"$GATEWAY_THREADING\""
# Written only when asked for, so that binaries older than the key still start.
[ -n "$GATEWAY_IDENTITY_SECONDS" ] && GATEWAY_EXTRA_TOML="$GATEWAY_EXTRA_TOML
identity_cache_seconds = $GATEWAY_IDENTITY_SECONDS"
if [ "$TLS" = 1 ]; then
  # The portal stays on plain HTTP (the sign-ins use it), so the cookies are not Secure and
  # the same application cookie works on both listeners.
  GATEWAY_EXTRA_TOML="$GATEWAY_EXTRA_TOML
public_url = \"http://auth.localhost:$GW_PORT\"
[server.tls]
listen = \"127.0.0.1:$GW_TLS_PORT\"
cert_file = \"$BENCH_TMP/cert.pem\"
key_file = \"$BENCH_TMP/key.pem\""
fi
GATEWAY_EXTRA_TOML="$GATEWAY_EXTRA_TOML
[security]
attempts_per_ip_per_minute = 1000000"
BENCH_TMP=$BENCH_TMP GW_WRAPPER=$WRAPPER start_gateway "$GW_PORT" "$UP_PORT"
log "creating $EMAIL (role utilisateur of app bench), setting its password, signing in"
create_bench_user "$GW_PORT" "$EMAIL" "$PASSWORD"
APP_COOKIE="$(app_cookie "$GW_PORT" "$EMAIL")"
log "single sign-on done: 200 from the upstream with X-Convergences-User: $EMAIL"
log "$SESSIONS more users (copies of $EMAIL's account, password and role, in SQL), each signing in"
clone_users "$SESSIONS"
python3 "$BENCH_ROOT/bench/proxy/sessions.py" --port "$GW_PORT" --email-format 'u{}@bench.example.fr' \
  --count "$SESSIONS" --password "$PASSWORD" --out "$BENCH_TMP/cookies.txt" ||
  die "signing $SESSIONS users in failed"
log "$SESSIONS users signed in, one application cookie each"
echo "$APP_COOKIE" >"$BENCH_TMP/cookie-one.txt"
while read -r c; do
  [ "${#c}" -eq "${#APP_COOKIE}" ] || die "cookies of different lengths: ${#c} and ${#APP_COOKIE} characters"
done <"$BENCH_TMP/cookies.txt"

# request_length PORT HOST [COOKIE]: bytes of the request the upstream received through the
# proxy on PORT (request line and headers), as nginx counts them.
request_length() {
  local n
  n="$(curl -s -m 5 -H "Host: $2" ${3:+-H "Cookie: convergences_app=$3"} "http://127.0.0.1:$1/__request-length")"
  [[ $n =~ ^[0-9]+$ ]] || die "no request length through 127.0.0.1:$1: $n"
  echo "$n"
}
GW_LEN="$(request_length "$GW_PORT" "bench.localhost:$GW_PORT" "$APP_COOKIE")"
BARE_LEN="$(request_length "$BARE_PORT" bench.localhost "$APP_COOKIE")"
IDENTITY_BYTES=$((GW_LEN - BARE_LEN))
[ "$IDENTITY_BYTES" -gt 20 ] || die "the gateway forwards $GW_LEN bytes, the bare proxy $BARE_LEN: no identity lines?"
log "bare Pingora proxy adding $IDENTITY_BYTES bytes of headers on 127.0.0.1:$BAREH_PORT"
BENCH_TMP=$BENCH_TMP $WRAPPER "$BARE_BIN" "127.0.0.1:$BAREH_PORT" "127.0.0.1:$UP_PORT" "${GATEWAY_THREADS:-2}" "$GATEWAY_THREADING" \
  "${GATEWAY_WORK_STEALING:-true}" "$IDENTITY_BYTES" >"$BENCH_TMP/bare-headers.log" 2>&1 &
BAREH_PID=$!
track_pid "$BAREH_PID"
wait_http "http://127.0.0.1:$BAREH_PORT/" bench.localhost "${GATEWAY_START_SECONDS:-20}" || die "bare proxy with headers did not start: $(tail -5 "$BENCH_TMP/bare-headers.log")"
BAREH_LEN="$(request_length "$BAREH_PORT" bench.localhost "$APP_COOKIE")"
[ "$BAREH_LEN" -eq "$GW_LEN" ] || die "the bare proxy with headers forwards $BAREH_LEN bytes, the gateway $GW_LEN"
log "each request reaches the upstream with $GW_LEN bytes through the gateway and (h), $BARE_LEN through (d)"

# --- measurement helpers -------------------------------------------------------------------

# upstream_accepts: connections the upstream nginx accepted so far (stub_status), minus the
# one asking.
upstream_accepts() {
  curl -s -m 5 -H 'Host: status.localhost' "http://127.0.0.1:$UP_PORT/__status" |
    awk 'NR == 3 { print $1 - 1 }'
}

# gateway_counts: "200s aborted others" from convergences_requests_total{app="bench"} on
# /metrics. Aborted: status 0 (label "1xx"), the client closed the connection before the answer
# (wrk stopping with requests in flight).
gateway_counts() {
  curl -s -m 5 -H 'Host: auth.localhost' -H "Authorization: Bearer $METRICS_TOKEN" \
    "http://127.0.0.1:$GW_PORT/metrics" |
    awk '/^convergences_requests_total\{/ && /app="bench"/ {
           if ($0 ~ /status="200"/) ok += $NF; else if ($0 ~ /status="1xx"/) ab += $NF; else other += $NF }
         END { printf "%d %d %d\n", ok, ab, other }'
}

declare -A URL NAME PID_OF
URL[a]="http://127.0.0.1:$UP_PORT/"
URL[b]="http://127.0.0.1:$NGINX_PORT/"
URL[c]="http://127.0.0.1:$GW_PORT/"
URL[d]="http://127.0.0.1:$BARE_PORT/"
URL[e]="http://127.0.0.1:$GW_PORT/"
URL[h]="http://127.0.0.1:$BAREH_PORT/"
NAME[a]="(a) upstream direct"
NAME[b]="(b) nginx proxy"
NAME[c]="(c) Convergences, 1 session"
NAME[d]="(d) bare Pingora proxy"
NAME[e]="(e) Convergences, $SESSIONS sessions"
NAME[h]="(h) bare Pingora + $IDENTITY_BYTES B of headers"
PID_OF[a]=$UPSTREAM_PID
PID_OF[b]=$PROXY_PID
PID_OF[c]=$GATEWAY_PID
PID_OF[d]=$BARE_PID
PID_OF[e]=$GATEWAY_PID
PID_OF[h]=$BAREH_PID
TARGETS="a b d h c e"
URL[f]="https://127.0.0.1:$NGINX_TLS_PORT/"
URL[g]="https://127.0.0.1:$GW_TLS_PORT/"
NAME[f]="(f) nginx proxy over TLS"
NAME[g]="(g) Convergences over TLS, 1 session"
PID_OF[f]=$PROXY_PID
PID_OF[g]=$GATEWAY_PID
[ "$TLS" = 1 ] && [ -z "$PROFILE" ] && TARGETS="$TARGETS f g"

# Every target is driven alike, by the same wrk script, with requests of the same shape: a
# Host and one user's application cookie (a browser sends its cookies to whatever proxy is in
# front of the application; a proxy other than the gateway forwards them). (c) and (g) repeat
# the one user's cookie, the others cycle through the SESSIONS users' cookies, all of the same
# length. So the baselines parse and forward what the gateway receives, and wrk spends the same
# on every target of the shared machine.
wrk_args() { # target -> wrk arguments before the URL
  printf '%s\n' -s "$BENCH_ROOT/bench/proxy/cookies.lua"
}

wrk_script_args() { # target -> arguments after the URL
  case $1 in
    a | b | d | h | f) printf '%s\n' -- bench.localhost "$BENCH_TMP/cookies.txt" ;;
    c) printf '%s\n' -- "bench.localhost:$GW_PORT" "$BENCH_TMP/cookie-one.txt" ;;
    g) printf '%s\n' -- "bench.localhost:$GW_TLS_PORT" "$BENCH_TMP/cookie-one.txt" ;;
    e) printf '%s\n' -- "bench.localhost:$GW_PORT" "$BENCH_TMP/cookies.txt" ;;
  esac
}

# run_one TARGET SECONDS OUTFILE [RSSFILE]
run_one() {
  local t=$1 secs=$2 out=$3 rssfile=${4:-} sampler="" before after
  local -a hdr tail
  mapfile -t hdr < <(wrk_args "$t")
  mapfile -t tail < <(wrk_script_args "$t")
  case $t in c | e | g) before="$(gateway_counts)" ;; esac
  # New upstream connections in the steady part of the run: from 1 s after its start to 1 s
  # before its end (when wrk stops, the requests in flight are cut and their upstream
  # connections cannot go back to the pool).
  local steady="$BENCH_TMP/steady-$t.txt" steady_pid=""
  rm -f "$steady" "$steady.0"
  if [ "$secs" -ge 3 ]; then
    (sleep 1; upstream_accepts >"$steady.0"; sleep $((secs - 2)); upstream_accepts >"$steady.1"; mv "$steady.1" "$steady") &
    steady_pid=$!
  fi
  if [ -n "$rssfile" ]; then
    rss_sampler "${PID_OF[$t]}" "$rssfile" &
    sampler=$!
  fi
  TREE_CPU=0
  tree_cpu "${PID_OF[$t]}"
  local cpu0=$TREE_CPU
  # With PROFILE=callgrind, instructions are counted for the load alone, not for the /metrics
  # readings around it (strace and perf are attached by profile_one, readings included).
  [ -z "$PROFILE_ON" ] || $PROFILE_ON
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 5s --latency "${hdr[@]}" "${URL[$t]}" "${tail[@]}" >"$out" 2>&1 ||
    die "wrk failed for ${NAME[$t]}: $(cat "$out")"
  [ -z "$PROFILE_OFF" ] || $PROFILE_OFF
  TREE_CPU=0
  tree_cpu "${PID_OF[$t]}"
  LAST_CPU_TICKS=$((TREE_CPU - cpu0))
  [ -n "$steady_pid" ] && wait "$steady_pid" 2>/dev/null
  LAST_NEW_UPSTREAM=0
  if [ -f "$steady" ] && [ -f "$steady.0" ]; then
    # Minus the first reading's own connection.
    LAST_NEW_UPSTREAM=$(($(cat "$steady") - $(cat "$steady.0") - 1))
  fi
  # The direct runs connect to the upstream themselves.
  [ "$t" = a ] && LAST_NEW_UPSTREAM=0
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
  fi
  kill -0 "${PID_OF[$t]}" 2>/dev/null || die "${NAME[$t]} died during the run"
  local rps p50 p99 req non sock
  read -r rps p50 p99 req non sock < <(parse_wrk "$out")
  [ "$non" -eq 0 ] || die "${NAME[$t]}: $non non-2xx/3xx answers (wrk output: $out)"
  if [ "$t" = c ] || [ "$t" = e ] || [ "$t" = g ]; then
    after="$(gateway_counts)"
    local b_ok b_ab b_other a_ok a_ab a_other
    read -r b_ok b_ab b_other <<<"$before"
    read -r a_ok a_ab a_other <<<"$after"
    local ok=$((a_ok - b_ok)) aborted=$((a_ab - b_ab)) other=$((a_other - b_other))
    [ "$other" -eq 0 ] ||
      die "Convergences answered $other requests with a status other than 200 (redirect or 401: the cookie is not accepted)"
    # At most one per connection when wrk stops, and as many again from the previous run of
    # the same gateway when they are counted late (a loaded machine).
    [ "$aborted" -le $((2 * CONNECTIONS)) ] ||
      die "Convergences saw $aborted requests aborted before their answer (at most one per connection expected, when wrk stops)"
    [ "$ok" -ge "$req" ] ||
      die "Convergences counted $ok proxied 200s for $req wrk requests: requests did not reach the upstream"
  fi
}

# --- counts per request (PROFILE) ------------------------------------------------------------

# attached_run TARGET OUT COMMAND...: one measured run of TARGET with COMMAND (a tracer or a
# sampler attached to the server) running beside it, stopped by SIGINT so that it writes its
# output. The second before the run lets it attach.
attached_run() {
  local t=$1 out=$2
  shift 2
  "$@" >/dev/null 2>&1 &
  local tool=$!
  sleep 1
  run_one "$t" "$DURATION" "$out"
  kill -INT "$tool" 2>/dev/null || true
  wait "$tool" 2>/dev/null || true
}

# profile_one TARGET: COUNT_LINE for one target after a warm-up run.
profile_one() {
  local t=$1 pid=${PID_OF[$1]} out="$BENCH_TMP/profile-$1.txt" req
  run_one "$t" "$WARMUP" "$BENCH_TMP/warmup-$t.txt"
  case $PROFILE in
    callgrind)
      callgrind_control -z "$pid" >/dev/null
      PROFILE_ON="callgrind_control -i on $pid" PROFILE_OFF="callgrind_control -i off $pid" \
        run_one "$t" "$DURATION" "$out" >/dev/null
      rm -f "$BENCH_TMP"/callgrind."$pid".*
      callgrind_control -d "profile-$t" "$pid" >/dev/null
      local dump
      dump="$(ls -t "$BENCH_TMP"/callgrind."$pid".* 2>/dev/null | head -1)"
      [ -n "$dump" ] || die "no callgrind dump for ${NAME[$t]}"
      cp "$dump" "$BENCH_TMP/callgrind-$t.out"
      req="$(awk '/requests in/ { print $1 }' "$out")"
      # Totals by event name (Ir alone, or with the cache model I1mr ILmr Dr D1mr DLmr Dw D1mw
      # DLmw), per request. Whole outputs read (no early exit): under pipefail a writer cut
      # short fails the script.
      COUNT_LINE="$(callgrind_annotate "$dump" 2>/dev/null | awk -v n="$req" '
        /^Events shown:/ { for (i = 3; i <= NF; i++) ev[i - 2] = $i }
        /PROGRAM TOTALS/ && !done { done = 1; k = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9,]+$/) { v = $i; gsub(",", "", v); tot[ev[++k]] = v } }
        END {
          printf "%.0f instructions per request", tot["Ir"] / n
          if ("D1mr" in tot) printf "; misses per request: L1 instructions %.0f, L1 data %.0f, last level %.1f", tot["I1mr"] / n, (tot["D1mr"] + tot["D1mw"]) / n, (tot["ILmr"] + tot["DLmr"] + tot["DLmw"]) / n
          printf " (%d requests)", n
        }')"
      callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | sed -n '1,60p' >"$BENCH_TMP/callgrind-$t.txt"
      ;;
    strace)
      attached_run "$t" "$out" strace -f -c -p "$pid" -o "$BENCH_TMP/strace-$t.txt"
      req="$(awk '/requests in/ { print $1 }' "$out")"
      COUNT_LINE="$(awk -v n="$req" '$NF == "futex" { f = $4 } $NF == "total" { t = $4 }
        END { printf "%.2f system calls per request, of which futex %.3f (%d requests)", t / n, f / n, n }' "$BENCH_TMP/strace-$t.txt")"
      ;;
    perf)
      attached_run "$t" "$out" perf record -q -F 997 -g -p "$pid" -o "$BENCH_TMP/perf-$t.data"
      req="$(awk '/requests in/ { print $1 }' "$out")"
      perf report -i "$BENCH_TMP/perf-$t.data" --no-children --sort symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -60 >"$BENCH_TMP/perf-$t.txt" || true
      perf report -i "$BENCH_TMP/perf-$t.data" --children --sort symbol --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -80 >"$BENCH_TMP/perf-children-$t.txt" || true
      COUNT_LINE="$req requests sampled; CPU shares by function in perf-$t.txt"
      ;;
    events)
      attached_run "$t" "$out" perf stat -x, -e task-clock,context-switches,cpu-migrations,page-faults \
        -p "$pid" -o "$BENCH_TMP/events-$t.txt"
      req="$(awk '/requests in/ { print $1 }' "$out")"
      # perf stat -x, lines: value,unit,event,...; task-clock is in milliseconds.
      COUNT_LINE="$(awk -F, -v n="$req" '
        $3 ~ /^task-clock/ { cpu = $1 } $3 ~ /^context-switches/ { cs = $1 }
        $3 ~ /^cpu-migrations/ { mig = $1 } $3 ~ /^page-faults/ { pf = $1 }
        END { printf "%.1f µs CPU, %.4f context switches, %.4f migrations, %.4f page faults per request (%d requests)", cpu * 1000 / n, cs / n, mig / n, pf / n, n }' "$BENCH_TMP/events-$t.txt")"
      ;;
  esac
}

if [ -n "$PROFILE" ]; then
  REPORT="$BENCH_TMP/report.md"
  {
    echo "### Proxy counts per request ($PROFILE) — $STARTED"
    echo
    echo "- Machine: $(machine_description); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Binary: $BUILD_DESC; server.threads = ${GATEWAY_THREADS:-2}, server.threading = $GATEWAY_THREADING; wrk -t$WRK_THREADS -c$CONNECTIONS, ${DURATION} s after ${WARMUP} s of warm-up"
    echo
    for t in d h c e; do
      log "profiling ${NAME[$t]} ($PROFILE)"
      profile_one "$t"
      echo "- ${NAME[$t]}: $COUNT_LINE"
    done
    echo
  } >"$BENCH_TMP/report.body"
  cat "$BENCH_TMP/report.body" >"$REPORT"
  for t in d h c e; do
    [ -f "$BENCH_TMP/callgrind-$t.txt" ] && { echo "--- $t"; cat "$BENCH_TMP/callgrind-$t.txt"; }
    [ -f "$BENCH_TMP/perf-$t.txt" ] && { echo "--- $t (self)"; cat "$BENCH_TMP/perf-$t.txt"; echo "--- $t (with callees)"; cat "$BENCH_TMP/perf-children-$t.txt"; }
  done >"$BENCH_TMP/profiles.txt" || true
  log "profiles (if any) in $BENCH_TMP/profiles.txt"
  BENCH_KEEP_TMP=1
  publish_report "$REPORT"
  exit 0
fi

# --- warm-up and rounds ----------------------------------------------------------------------

log "warm-up: ${WARMUP} s each"
for t in $TARGETS; do run_one "$t" "$WARMUP" "$BENCH_TMP/warmup-$t.txt"; done

BUSY_MAX=$(busy_processes)
declare -A RES PEAK
for t in $TARGETS; do PEAK[$t]=0; done
for r in $(seq 1 "$ROUNDS"); do
  for t in $TARGETS; do
    b="$(busy_processes)"
    [ "$b" -gt "$BUSY_MAX" ] && BUSY_MAX=$b
    log "round $r/$ROUNDS ${NAME[$t]}: ${DURATION} s, $CONNECTIONS connections"
    run_one "$t" "$DURATION" "$BENCH_TMP/wrk-$t-$r.txt" "$BENCH_TMP/rss-$t-$r.txt"
    RES[$t,$r]="$(parse_wrk "$BENCH_TMP/wrk-$t-$r.txt")"
    set -- ${RES[$t,$r]}
    # CPU time of the server per request, in microseconds: column 7 of RES.
    RES[$t,$r]="${RES[$t,$r]} $(awk -v k="$LAST_CPU_TICKS" -v hz="$CLK_TCK" -v n="$4" 'BEGIN { printf "%.1f", k * 1e6 / hz / n }')"
    # New upstream connections during the run: column 8.
    RES[$t,$r]="${RES[$t,$r]} $LAST_NEW_UPSTREAM"
    rss=$(cat "$BENCH_TMP/rss-$t-$r.txt" 2>/dev/null || echo 0)
    [ "$rss" -gt "${PEAK[$t]}" ] && PEAK[$t]=$rss
  done
done
# TLS handshakes per second (openssl s_time: one connection at a time, a full handshake each
# (-new) or a resumed one (-reuse)), interleaved nginx / Convergences.
declare -A HS
if [ "$TLS" = 1 ]; then
  for r in $(seq 1 "$ROUNDS"); do
    for t in f g; do
      port=$NGINX_TLS_PORT
      [ "$t" = g ] && port=$GW_TLS_PORT
      for mode in new reuse; do
        log "round $r/$ROUNDS ${NAME[$t]}: TLS handshakes ($mode), ${HANDSHAKE_SECONDS} s"
        out="$BENCH_TMP/s_time-$t-$mode-$r.txt"
        t0=$(date +%s.%N)
        openssl s_time -connect "127.0.0.1:$port" -www / -"$mode" -time "$HANDSHAKE_SECONDS" >"$out" 2>&1 || true
        t1=$(date +%s.%N)
        rate="$(awk -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" '/connections in .* real seconds/ { printf "%.0f", $1 / s }' "$out" | tail -1)"
        [ -n "$rate" ] || die "openssl s_time failed against ${NAME[$t]}: $(tail -3 "$out")"
        HS[$t,$mode,$r]=$rate
        # With -reuse, every connection after the first should resume ('r' in the progress line).
        if [ "$mode" = reuse ]; then
          HS[$t,resumed,$r]="$(tr -cd 'r*' <"$out" | awk '{ n = length($0); r = gsub(/r/, ""); printf "%d/%d", r, n }')"
        fi
      done
    done
  done
fi
GW_HWM="$(awk '/^VmHWM/ { print $2 }' "/proc/$GATEWAY_PID/status")"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- report --------------------------------------------------------------------------------

# stats COLUMN TARGET: "median min max" over rounds (column 1 rps, 2 p50, 3 p99)
stats() {
  local col=$1 t=$2 r
  for r in $(seq 1 "$ROUNDS"); do
    set -- ${RES[$t,$r]}
    echo "${!col}"
  done | sort -g | awk '{ v[NR] = $1 } END {
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%s %s %s\n", m, v[1], v[NR] }'
}
sum_col() {
  local col=$1 t=$2 r s=0
  for r in $(seq 1 "$ROUNDS"); do
    set -- ${RES[$t,$r]}
    s=$((s + ${!col}))
  done
  echo "$s"
}

declare -A MED
REPORT="$BENCH_TMP/report.md"
{
  echo "### Proxy overhead — $STARTED"
  echo
  echo "- Machine: $(machine_description)"
  echo "- Binary: $BUILD_DESC; server.threads = ${GATEWAY_THREADS:-2}, server.threading = $GATEWAY_THREADING, server.work_stealing = ${GATEWAY_WORK_STEALING:-true} (shared layout only), server.identity_cache_seconds = ${GATEWAY_IDENTITY_SECONDS:-10 (default)}; bare Pingora proxy with the same threads and layout; nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), worker_processes 2; $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
  echo "- Convergences log level: $GATEWAY_LOG_LEVEL; (e): $SESSIONS signed-in users, wrk cycling through their cookies; every target gets the same requests, a Host and one of those cookies (bench/proxy/cookies.lua; (c) and (g): the one user's)"
  echo "- wrk -t$WRK_THREADS -c$CONNECTIONS --latency, ${DURATION} s per run, $ROUNDS rounds interleaved ${TARGETS// /, }, ${WARMUP} s warm-up each; wrk, upstream and proxies share the machine"
  echo "- Load average before/after: $LOAD_BEFORE / $LOAD_AFTER; build processes (rustc, cc, ld...) seen during the runs: up to $BUSY_MAX${BENCH_NOTE:+; $BENCH_NOTE}"
  echo
  echo "| target | requests/s median (min–max) | p50 ms median (min–max) | p99 ms median (min–max) | server CPU µs/request median (min–max) | errors | new upstream connections | peak RSS |"
  echo "|---|---|---|---|---|---|---|---|"
  for t in $TARGETS; do
    read -r rm rl rh < <(stats 1 "$t")
    read -r pm pl ph < <(stats 2 "$t")
    read -r qm ql qh < <(stats 3 "$t")
    read -r um ul uh < <(stats 7 "$t")
    MED[$t,cpu]=$um
    MED[$t,rps]=$rm
    MED[$t,p50]=$pm
    MED[$t,p99]=$qm
    errs=$(($(sum_col 5 "$t") + $(sum_col 6 "$t")))
    newup=$(sum_col 8 "$t")
    case $t in
      a) rssnote="$((PEAK[a] / 1024)) MiB (upstream nginx, master + workers)"; newup="–" ;;
      b) rssnote="$((PEAK[b] / 1024)) MiB (master + 2 workers)" ;;
      d | h) rssnote="$((PEAK[$t] / 1024)) MiB" ;;
      c | e | g) rssnote="$((PEAK[$t] / 1024)) MiB (VmHWM $((GW_HWM / 1024)) MiB)" ;;
      f) rssnote="$((PEAK[f] / 1024)) MiB (master + 2 workers)" ;;
    esac
    printf '| %s | %.0f (%.0f–%.0f) | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.1f (%.1f–%.1f) | %s | %s | %s |\n' \
      "${NAME[$t]}" "$rm" "$rl" "$rh" "$pm" "$pl" "$ph" "$qm" "$ql" "$qh" "$um" "$ul" "$uh" "$errs" "$newup" "$rssnote"
  done
  echo
  awk -v a="${MED[a,rps]}" -v b="${MED[b,rps]}" -v c="${MED[c,rps]}" -v d="${MED[d,rps]}" -v e="${MED[e,rps]}" \
    -v a99="${MED[a,p99]}" -v b99="${MED[b,p99]}" -v c99="${MED[c,p99]}" -v d99="${MED[d,p99]}" -v e99="${MED[e,p99]}" \
    -v a50="${MED[a,p50]}" -v c50="${MED[c,p50]}" -v e50="${MED[e,p50]}" \
    -v bcpu="${MED[b,cpu]}" -v ccpu="${MED[c,cpu]}" -v dcpu="${MED[d,cpu]}" -v ecpu="${MED[e,cpu]}" -v n="$SESSIONS" \
    -v h="${MED[h,rps]}" -v hcpu="${MED[h,cpu]}" -v hb="$IDENTITY_BYTES" 'BEGIN {
      printf "- Our own overhead, Convergences / bare Pingora: requests/s %.2f (1 session), %.2f (%d sessions); CPU per request %.2f×, %.2f× (targets: ≥ 0.9 and ≤ 1.1×)\n", c / d, e / d, n, ccpu / dcpu, ecpu / dcpu
      printf "- Convergences / bare Pingora adding the same %d bytes of headers: requests/s %.2f (1 session), %.2f (%d sessions); CPU per request %.2f×, %.2f×; those bytes alone cost bare Pingora %.2f× its CPU per request\n", hb, c / h, e / h, n, ccpu / hcpu, ecpu / hcpu, hcpu / dcpu
      printf "- Against nginx: Convergences / nginx requests/s %.2f (1 session), %.2f (%d sessions); bare Pingora / nginx %.2f (target for Convergences: ≥ 0.6, stretch 0.8)\n", c / b, e / b, n, d / b
      printf "- Proxy CPU per request: Convergences %.1f µs (1 session), %.1f µs (%d sessions); bare Pingora %.1f µs; nginx %.1f µs\n", ccpu, ecpu, n, dcpu, bcpu
      printf "- Added latency over the direct upstream: Convergences p50 %+.2f ms, p99 %+.2f ms (1 session), p99 %+.2f ms (%d sessions); bare Pingora p99 %+.2f ms; nginx p99 %+.2f ms\n", c50 - a50, c99 - a99, e99 - a99, n, d99 - a99, b99 - a99
    }'
  if [ "$TLS" = 1 ]; then
    for t in f g; do
      for mode in new reuse; do
        HS[$t,$mode]="$(for r in $(seq 1 "$ROUNDS"); do echo "${HS[$t,$mode,$r]}"; done | sort -g | awk '{ v[NR] = $1 } END { printf "%s (%s–%s)", v[int((NR + 1) / 2)], v[1], v[NR] }')"
      done
    done
    echo "- TLS handshakes per second, one connection at a time (openssl s_time -www /, HTTP/1.0 without a Host: nginx proxies it, Convergences answers its 404 page; ${HANDSHAKE_SECONDS} s × $ROUNDS, median (min–max)): nginx ${HS[f,new]} full, ${HS[f,reuse]} resumed (resumed connections in the last round: ${HS[f,resumed,$ROUNDS]}); Convergences ${HS[g,new]} full, ${HS[g,reuse]} resumed (${HS[g,resumed,$ROUNDS]}); same P-256 certificate"
    awk -v f="${MED[f,rps]}" -v g="${MED[g,rps]}" -v fc="${MED[f,cpu]}" -v gc="${MED[g,cpu]}" 'BEGIN {
      printf "- Keep-alive over TLS: Convergences / nginx requests/s %.2f; CPU per request %.1f µs vs %.1f µs\n", g / f, gc, fc }'
  fi
  echo "- Errors = wrk non-2xx/3xx answers + socket errors, summed over the rounds; every Convergences answer was checked to be a proxied 200 (gateway metrics)."
  echo "- New upstream connections: connections the upstream accepted (nginx stub_status) from 1 s after the start of each run to 1 s before its end, summed over the rounds: 0 when the proxy's pool keeps every upstream connection in a steady run."
  echo "- Server CPU: utime + stime of the server's processes (nginx: master + workers) during the run, divided by the requests wrk counted."
  echo "- Peak RSS: largest sum of VmRSS of the process tree sampled every 0.25 s during its runs (shared pages of nginx workers counted in each)."
  echo
  echo "<details><summary>per round (requests/s, p50 ms, p99 ms, server CPU per request, new upstream connections)</summary>"
  echo
  for r in $(seq 1 "$ROUNDS"); do
    line="round $r:"
    for t in $TARGETS; do
      set -- ${RES[$t,$r]}
      line="$line ${t} $1 / $2 / $3 / $7 µs / $8;"
    done
    echo "- ${line%;}"
  done
  echo
  echo "</details>"
  echo
} >"$REPORT"

publish_report "$REPORT"
