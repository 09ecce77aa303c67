# Shared helpers of the benchmark scripts (sourced, not run). Bash only.
#
# Everything a script starts is registered with `track_pid` and stopped by `cleanup` (the
# scripts install `trap cleanup EXIT`). Only loopback addresses are used.

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH_PIDS=()
BENCH_TMP=""
# Bearer token of the bench gateways' /metrics (server.metrics_token).
METRICS_TOKEN="bench-metrics-token-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  printf '[bench] ERROR: %s\n' "$*" >&2
  exit 1
}

track_pid() { BENCH_PIDS+=("$1"); }

cleanup() {
  local rc=$?
  local p
  for p in "${BENCH_PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  # Give them a moment, then make sure.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local alive=0
    for p in "${BENCH_PIDS[@]}"; do
      kill -0 "$p" 2>/dev/null && alive=1
    done
    [ "$alive" -eq 0 ] && break
    sleep 0.3
  done
  for p in "${BENCH_PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ] && [ -z "${BENCH_KEEP_TMP:-}" ]; then
    rm -rf "$BENCH_TMP"
  elif [ -n "$BENCH_TMP" ]; then
    log "kept $BENCH_TMP (logs, configs)"
  fi
  exit "$rc"
}

make_tmp() {
  BENCH_TMP="$(mktemp -d /tmp/convergences-bench.XXXXXX)"
  chmod 755 "$BENCH_TMP"
}

# ensure_packages CMD:PACKAGE ...: installs the Debian packages whose command is missing
# (apt-get update once first). We are expected to be root; otherwise sudo is used.
ensure_packages() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${missing[*]} from Debian"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin"
    command -v "${pair%%:*}" >/dev/null 2>&1 || die "${pair%%:*} still missing after installing ${pair#*:}"
  done
}

# Sets BENCH_BIN: the given one if set, else builds the release binary (honours
# CARGO_TARGET_DIR; default target/); with PGO=1, builds it and the bare proxy with
# scripts/build-pgo.sh (docs/decisions/0012-profile-guided-release-build.md) and sets BARE_BIN.
build_gateway() {
  local tree
  tree="commit $(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  git -C "$BENCH_ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock migrations templates static 2>/dev/null ||
    tree="$tree + uncommitted changes"
  if [ -z "${BENCH_BIN:-}" ] && [ "${PGO:-0}" = 1 ]; then
    log "building both proxies with a profile of the proxy path (scripts/build-pgo.sh; two release builds)"
    local built
    built="$("$BENCH_ROOT/scripts/build-pgo.sh")" || die "scripts/build-pgo.sh failed"
    BENCH_BIN="$(sed -n 1p <<<"$built")"
    BARE_BIN="$(sed -n 2p <<<"$built")"
    BENCH_BIN_GIVEN=1
    BUILD_DESC="release build with PGO (scripts/build-pgo.sh) of $tree"
    return
  fi
  if [ -n "${BENCH_BIN:-}" ]; then
    [ -x "$BENCH_BIN" ] || die "BENCH_BIN=$BENCH_BIN is not executable"
    log "using $BENCH_BIN (not rebuilt)"
    BENCH_BIN_GIVEN=1
    BUILD_DESC="given binary $BENCH_BIN (built $(date -u -r "$BENCH_BIN" '+%H:%M UTC'); working tree now: $tree)"
    return
  fi
  BUILD_DESC="release build of $tree"
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup) first"
  "$BENCH_ROOT/scripts/setup.sh"
  log "building the release binary (cargo build --release --bin convergences; first build takes minutes)"
  (cd "$BENCH_ROOT" && cargo build --release --quiet --bin convergences)
  BENCH_BIN="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/convergences"
  case "$BENCH_BIN" in /*) ;; *) BENCH_BIN="$BENCH_ROOT/$BENCH_BIN" ;; esac
  [ -x "$BENCH_BIN" ] || die "no binary at $BENCH_BIN after the build"
}

# Sets BARE_BIN, the bare Pingora proxy of bench/proxy (the example bare_proxy): the given one,
# else the one next to BENCH_BIN, else builds it (release profile, like the gateway).
build_bare_proxy() {
  if [ -n "${BARE_BIN:-}" ]; then
    [ -x "$BARE_BIN" ] || die "BARE_BIN=$BARE_BIN is not executable"
    return
  fi
  BARE_BIN="$(dirname "$BENCH_BIN")/examples/bare_proxy"
  if [ -n "${BENCH_BIN_GIVEN:-}" ] && [ -x "$BARE_BIN" ]; then
    log "using $BARE_BIN (not rebuilt)"
    return
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup) first"
  log "building the bare Pingora proxy (cargo build --release --example bare_proxy)"
  (cd "$BENCH_ROOT" && cargo build --release --quiet --example bare_proxy)
  BARE_BIN="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/examples/bare_proxy"
  case "$BARE_BIN" in /*) ;; *) BARE_BIN="$BENCH_ROOT/$BARE_BIN" ;; esac
  [ -x "$BARE_BIN" ] || die "no binary at $BARE_BIN after the build"
}

# gw ARGS...: runs the gateway binary without any CONVERGENCES_* variable of the caller's
# environment (the gateway reads them as configuration overrides). GW_ENV=VAR=value adds one.
gw() {
  local unset=() v
  for v in $(compgen -e); do
    case $v in CONVERGENCES_*) unset+=(-u "$v") ;; esac
  done
  env "${unset[@]}" ${GW_ENV:+"$GW_ENV"} "$BENCH_BIN" "$@"
}

# gw_bg ARGS...: the same, to be run with & (it execs, so $! is the gateway's own PID).
# GW_WRAPPER: a command to run it under (e.g. valgrind ...), which must keep the PID.
gw_bg() {
  local unset=() v
  for v in $(compgen -e); do
    case $v in CONVERGENCES_*) unset+=(-u "$v") ;; esac
  done
  exec env "${unset[@]}" ${GW_ENV:+"$GW_ENV"} ${GW_WRAPPER:-} "$BENCH_BIN" "$@"
}

# pick_port VAR: sets VAR to a TCP port of 127.0.0.1 that nothing listens on (and that no
# earlier pick_port returned).
pick_port() {
  local p tries=0
  while [ $tries -lt 200 ]; do
    p=$((20000 + RANDOM % 20000))
    tries=$((tries + 1))
    case " ${BENCH_USED_PORTS:-} " in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      BENCH_USED_PORTS="${BENCH_USED_PORTS:-} $p"
      printf -v "$1" '%s' "$p"
      return
    fi
  done
  die "no free port found"
}

# wait_http URL HOST [SECONDS]: polls until URL (with that Host header) answers 200.
wait_http() {
  local url=$1 host=$2 limit=${3:-30} i=0
  while [ $i -lt $((limit * 5)) ]; do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' -m 1 -H "Host: $host" "$url" 2>/dev/null)" = 200 ]; then
      return 0
    fi
    sleep 0.2
    i=$((i + 1))
  done
  return 1
}

# start_nginx NAME CONF_BODY: runs nginx in the foreground (daemon off) with a private prefix
# in $BENCH_TMP/NAME; sets NGINX_PID. CONF_BODY is the content of the http {} block.
start_nginx() {
  local name=$1 body=$2 workers=${3:-auto}
  local dir="$BENCH_TMP/$name"
  mkdir -p "$dir/tmp"
  chmod 777 "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
$body
}
EOF
  nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" || die "bad nginx config $dir/nginx.conf"
  nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' &
  NGINX_PID=$!
  track_pid "$NGINX_PID"
}

# start_upstream PORT: nginx answering every request with a small fixed 200, the same answer
# whoever asks, so that every proxy measured handles the same response. Only on
# /__echo-identity does it echo the X-Convergences-User request header back as X-Echo-User
# (so the gateway's injection can be checked once before the load), and on /__request-length
# it answers with the size of the request it received (request line and headers).
start_upstream() {
  start_nginx upstream "
    server {
        listen 127.0.0.1:$1 backlog=4096;
        keepalive_requests 1000000;
        location = /__status {
            stub_status;
        }
        location = /__echo-identity {
            default_type text/plain;
            add_header X-Echo-User \$http_x_convergences_user always;
            return 200 \"convergences bench upstream: ok\n\";
        }
        location = /__request-length {
            default_type text/plain;
            return 200 \"\$request_length\";
        }
        location / {
            default_type text/plain;
            return 200 \"convergences bench upstream: ok\n\";
        }
    }"
  UPSTREAM_PID=$NGINX_PID
}

# start_gateway PORT UPSTREAM_PORT: writes $BENCH_TMP/gateway/convergences.toml and starts
# `convergences serve`; sets GATEWAY_PID and GATEWAY_CONFIG. Logs at warn only.
# GATEWAY_EXTRA_TOML: more tables (e.g. [security] ...) written before [[apps]].
start_gateway() {
  local port=$1 up=$2 dir="$BENCH_TMP/gateway"
  mkdir -p "$dir/data"
  GATEWAY_CONFIG="$dir/convergences.toml"
  cat >"$GATEWAY_CONFIG" <<EOF
[server]
listen = "127.0.0.1:$port"
portal_host = "auth.localhost"
data_dir = "$dir/data"
threads = ${GATEWAY_THREADS:-2}
work_stealing = ${GATEWAY_WORK_STEALING:-true}
grace_period_seconds = 0
graceful_shutdown_timeout_seconds = 1
metrics_token = "$METRICS_TOKEN"
${GATEWAY_EXTRA_TOML:-}

[[apps]]
slug = "bench"
name = "Bench"
description = "Benchmark upstream"
host = "bench.localhost"
upstreams = ["127.0.0.1:$up"]
EOF
  # Versions before server.metrics_token refuse the key (and serve /metrics to anyone).
  if ! gw check-config --config "$GATEWAY_CONFIG" >"$dir/check-config.log" 2>&1 &&
    grep -q metrics_token "$dir/check-config.log"; then
    sed -i '/^metrics_token = /d' "$GATEWAY_CONFIG"
  fi
  gw check-config --config "$GATEWAY_CONFIG" >"$dir/check-config.log" 2>&1 ||
    die "check-config failed: $(cat "$dir/check-config.log")"
  # Logs at warn, so that one access-log line per request does not dominate. Some versions
  # read CONVERGENCES_LOG as a configuration override and refuse it: then keep the default
  # level (info, written to a file) and say so in the report.
  GATEWAY_LOG_LEVEL=warn
  if ! GW_ENV=CONVERGENCES_LOG=warn gw check-config --config "$GATEWAY_CONFIG" >/dev/null 2>&1; then
    GATEWAY_LOG_LEVEL="info (this version refuses CONVERGENCES_LOG; access logs written to a file)"
    log "warning: the gateway refuses CONVERGENCES_LOG=warn; running with its default log level"
  fi
  if [ "$GATEWAY_LOG_LEVEL" = warn ]; then
    RUST_LOG=warn GW_ENV=CONVERGENCES_LOG=warn gw_bg serve --config "$GATEWAY_CONFIG" \
      >"$dir/gateway.log" 2>&1 &
  else
    RUST_LOG=warn gw_bg serve --config "$GATEWAY_CONFIG" >"$dir/gateway.log" 2>&1 &
  fi
  GATEWAY_PID=$!
  track_pid "$GATEWAY_PID"
  wait_http "http://127.0.0.1:$port/healthz" auth.localhost "${GATEWAY_START_SECONDS:-60}" ||
    die "gateway not ready after ${GATEWAY_START_SECONDS:-60} s; log: $(tail -20 "$dir/gateway.log")"
}

# create_bench_user PORT EMAIL PASSWORD: platform administrator EMAIL with role utilisateur of
# app "bench", password set through the one-time link like a user would. Sets BENCH_JAR (curl
# cookie jar holding the portal session).
create_bench_user() {
  local port=$1 email=$2 password=$3 dir="$BENCH_TMP/gateway"
  local out link csrf code
  out="$(gw admin create-platform-admin --config "$GATEWAY_CONFIG" \
    --email "$email" --first-name Bench --last-name User 2>&1)" ||
    die "create-platform-admin failed: $out"
  link="$(printf '%s\n' "$out" | grep -o 'http://auth\.localhost:[0-9]*/mot-de-passe/[^[:space:]]*' | head -1)"
  [ -n "$link" ] || die "no password link in: $out"
  out="$(gw admin assign-role --config "$GATEWAY_CONFIG" \
    --email "$email" --app bench --role utilisateur 2>&1)" || die "assign-role failed: $out"
  BENCH_JAR="$dir/cookies.txt"
  : >"$BENCH_JAR"
  BENCH_CURL=(curl -s -m 10 -b "$BENCH_JAR" -c "$BENCH_JAR"
    --resolve "auth.localhost:$port:127.0.0.1" --resolve "bench.localhost:$port:127.0.0.1")
  csrf="$("${BENCH_CURL[@]}" "$link" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')"
  [ -n "$csrf" ] || die "no csrf field on the password page $link"
  code="$("${BENCH_CURL[@]}" -o "$dir/password-answer.html" -D "$dir/password-headers.txt" -w '%{http_code}' \
    --data-urlencode "csrf=$csrf" --data-urlencode "password=$password" \
    --data-urlencode "confirmation=$password" "$link")"
  [ "$code" = 303 ] || die "setting the password answered $code (expected 303); page in $dir/password-answer.html"
  # (Checked on the answer: curl's jar refuses a cookie for Domain=localhost, which
  # bench/chaos uses.)
  grep -qi '^set-cookie: convergences_session=' "$dir/password-headers.txt" ||
    die "no convergences_session cookie after setting the password"
}

# app_cookie PORT: single sign-on handshake for bench.localhost with the jar; prints the value
# of the convergences_app cookie after checking that the upstream answers 200 with the
# identity header injected.
app_cookie() {
  local port=$1 email=$2 dir="$BENCH_TMP/gateway" code value echo_user
  code="$("${BENCH_CURL[@]}" -L --max-redirs 10 -o /dev/null -w '%{http_code}' \
    -H 'Accept: text/html' "http://bench.localhost:$port/")"
  [ "$code" = 200 ] || die "single sign-on handshake to bench.localhost ended with $code"
  value="$(awk '$6 == "convergences_app" && $1 ~ /bench\.localhost$/ { print $7 }' "$BENCH_JAR" | tail -1)"
  [ -n "$value" ] || die "no convergences_app cookie for bench.localhost in the jar"
  # The exact request wrk will send: only that cookie, no redirect following.
  code="$(curl -s -m 5 -D "$dir/check-headers.txt" -o /dev/null -w '%{http_code}' \
    -H "Host: bench.localhost:$port" -H "Cookie: convergences_app=$value" "http://127.0.0.1:$port/__echo-identity")"
  [ "$code" = 200 ] || die "authenticated request through the gateway answered $code (expected 200)"
  echo_user="$(tr -d '\r' <"$dir/check-headers.txt" | awk -F': ' 'tolower($1) == "x-echo-user" { print $2 }')"
  # Identity headers are percent-encoded (docs/gateway.md#identity-header-encoding).
  local encoded
  encoded="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$email")"
  [ "$echo_user" = "$encoded" ] ||
    die "upstream did not receive X-Convergences-User=$encoded (got '$echo_user')"
  printf '%s\n' "$value"
}

# machine_description: one line for RESULTS.md.
machine_description() {
  local cpu mem
  cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  mem="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  printf '%s CPU(s) (%s), %s RAM, %s' "$(nproc)" "${cpu:-unknown CPU}" "$mem" "$(uname -sr)"
}

# busy_processes: other CPU users at this moment (build tools), for the noise note.
busy_processes() {
  local n
  n="$(ps -eo comm= 2>/dev/null | grep -cE '^(rustc|cargo|cc1|cc1plus|ld|lld|clang|gcc|node)$' || true)"
  printf '%s' "${n:-0}"
}

# Prints a finished report and appends it to $RESULTS_FILE ("-": print only).
publish_report() {
  local report=$1
  echo
  cat "$report"
  if [ "$RESULTS_FILE" != "-" ]; then
    if [ ! -s "$RESULTS_FILE" ]; then
      printf '# Benchmark results\n\nAppended by bench/*/run.sh (see bench/README.md). Newest last.\n\n' >"$RESULTS_FILE"
    fi
    cat "$report" >>"$RESULTS_FILE"
    log "appended to $RESULTS_FILE"
  fi
}
