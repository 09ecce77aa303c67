#!/usr/bin/env bash
# Proxy overhead benchmark (docs/product.md#performance-targets): the same small upstream
# measured
#   (a) directly, (b) through nginx as a plain reverse proxy, (c) through Convergences with an
#   authenticated single sign-on request (identity headers and a fresh signed assertion on
#   every request),
# interleaved a b c a b c ... for ROUNDS rounds of DURATION seconds at CONNECTIONS connections
# (wrk --latency), with the peak RSS of each server. Prints a table and appends it to
# bench/RESULTS.md. See bench/README.md.
#
# Environment: ROUNDS (3), DURATION (10 s), WARMUP (3 s), CONNECTIONS (50), WRK_THREADS (2),
# GATEWAY_THREADS (2), GATEWAY_WORK_STEALING (true), BENCH_BIN (skip the build), CARGO_TARGET_DIR,
# RESULTS_FILE (bench/RESULTS.md; "-" to not write), BENCH_NOTE (free text for RESULTS.md),
# BENCH_KEEP_TMP=1 (keep configs and logs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-50}
WRK_THREADS=${WRK_THREADS:-2}
RESULTS_FILE=${RESULTS_FILE:-$BENCH_ROOT/bench/RESULTS.md}
EMAIL=bench@bench.example.fr
PASSWORD='Mesure-Debit-2026!xq'
for v in ROUNDS DURATION WARMUP CONNECTIONS WRK_THREADS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer"
done
[ "$DURATION" -le 600 ] || die "DURATION is capped at 600 s"
[ "$ROUNDS" -le 50 ] || die "ROUNDS is capped at 50"

trap cleanup EXIT
ensure_packages nginx:nginx wrk:wrk curl:curl
build_gateway
make_tmp
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

pick_port UP_PORT
pick_port NGINX_PORT
pick_port GW_PORT

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
    }" 2
PROXY_PID=$NGINX_PID
wait_http "http://127.0.0.1:$NGINX_PORT/" bench.localhost 20 || die "nginx proxy did not start: $(cat "$BENCH_TMP/proxy/error.log")"

log "Convergences ($BENCH_BIN) on 127.0.0.1:$GW_PORT"
start_gateway "$GW_PORT" "$UP_PORT"
log "creating $EMAIL (role utilisateur of app bench), setting its password, signing in"
create_bench_user "$GW_PORT" "$EMAIL" "$PASSWORD"
APP_COOKIE="$(app_cookie "$GW_PORT" "$EMAIL")"
log "single sign-on done: 200 from the upstream with X-Convergences-User: $EMAIL"

# --- measurement helpers -------------------------------------------------------------------

# tree_rss PID: adds the VmRSS (kB) of PID and its descendants to TREE_RSS (no forks).
tree_rss() {
  local pid=$1 k v _ f kid kids=()
  [ -r "/proc/$pid/status" ] || return 0
  while read -r k v _; do
    if [ "$k" = "VmRSS:" ]; then TREE_RSS=$((TREE_RSS + v)); fi
  done 2>/dev/null <"/proc/$pid/status" || true
  for f in /proc/"$pid"/task/*/children; do
    read -r -a kids <"$f" 2>/dev/null || true
    for kid in "${kids[@]}"; do tree_rss "$kid"; done
  done
}

# rss_sampler PID FILE: writes the largest RSS sum seen (kB) to FILE, every 0.25 s.
rss_sampler() {
  local pid=$1 out=$2 max=0
  while kill -0 "$pid" 2>/dev/null; do
    TREE_RSS=0
    tree_rss "$pid"
    if [ "$TREE_RSS" -gt "$max" ]; then
      max=$TREE_RSS
      echo "$max" >"$out"
    fi
    sleep 0.25
  done
}

# tree_cpu PID: adds the CPU time (utime + stime, clock ticks) of PID and its descendants to
# TREE_CPU.
tree_cpu() {
  local pid=$1 stat f kid kids=()
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 0
  local -a fields
  read -r -a fields <<<"${stat##*) }"
  TREE_CPU=$((TREE_CPU + fields[11] + fields[12]))
  for f in /proc/"$pid"/task/*/children; do
    read -r -a kids <"$f" 2>/dev/null || true
    for kid in "${kids[@]}"; do tree_cpu "$kid"; done
  done
}
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"

# to_ms VALUE_WITH_UNIT (wrk: 850.00us, 1.20ms, 1.01s, 1.00m)
to_ms() {
  awk -v x="$1" 'BEGIN {
    if (x ~ /us$/) { sub(/us$/, "", x); printf "%.3f", x / 1000 }
    else if (x ~ /ms$/) { sub(/ms$/, "", x); printf "%.3f", x }
    else if (x ~ /s$/) { sub(/s$/, "", x); printf "%.3f", x * 1000 }
    else if (x ~ /m$/) { sub(/m$/, "", x); printf "%.3f", x * 60000 }
    else { printf "nan" } }'
}

# parse_wrk FILE: prints "rps p50_ms p99_ms requests non2xx3xx socket_errors"
parse_wrk() {
  local f=$1 rps p50 p99 req non sock
  rps="$(awk '/^Requests\/sec:/ { print $2 }' "$f")"
  p50="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")"
  p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")"
  req="$(awk '/requests in/ { print $1 }' "$f")"
  non="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")"
  sock="$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$f")"
  [ -n "$rps" ] && [ -n "$req" ] || die "could not parse wrk output $f: $(cat "$f")"
  echo "$rps $p50 $p99 $req ${non:-0} ${sock:-0}"
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
NAME[a]="(a) upstream direct"
NAME[b]="(b) nginx proxy"
NAME[c]="(c) Convergences"
PID_OF[a]=$UPSTREAM_PID
PID_OF[b]=$PROXY_PID
PID_OF[c]=$GATEWAY_PID

wrk_args() { # target -> wrk header arguments
  case $1 in
    a | b) printf '%s\n' -H "Host: bench.localhost" ;;
    c) printf '%s\n' -H "Host: bench.localhost:$GW_PORT" -H "Cookie: convergences_app=$APP_COOKIE" ;;
  esac
}

# run_one TARGET SECONDS OUTFILE [RSSFILE]
run_one() {
  local t=$1 secs=$2 out=$3 rssfile=${4:-} sampler="" before after
  local -a hdr
  mapfile -t hdr < <(wrk_args "$t")
  [ "$t" = c ] && before="$(gateway_counts)"
  if [ -n "$rssfile" ]; then
    rss_sampler "${PID_OF[$t]}" "$rssfile" &
    sampler=$!
  fi
  TREE_CPU=0
  tree_cpu "${PID_OF[$t]}"
  local cpu0=$TREE_CPU
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 5s --latency "${hdr[@]}" "${URL[$t]}" >"$out" 2>&1 ||
    die "wrk failed for ${NAME[$t]}: $(cat "$out")"
  TREE_CPU=0
  tree_cpu "${PID_OF[$t]}"
  LAST_CPU_TICKS=$((TREE_CPU - cpu0))
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
  fi
  kill -0 "${PID_OF[$t]}" 2>/dev/null || die "${NAME[$t]} died during the run"
  local rps p50 p99 req non sock
  read -r rps p50 p99 req non sock < <(parse_wrk "$out")
  [ "$non" -eq 0 ] || die "${NAME[$t]}: $non non-2xx/3xx answers (wrk output: $out)"
  if [ "$t" = c ]; then
    after="$(gateway_counts)"
    local b_ok b_ab b_other a_ok a_ab a_other
    read -r b_ok b_ab b_other <<<"$before"
    read -r a_ok a_ab a_other <<<"$after"
    local ok=$((a_ok - b_ok)) aborted=$((a_ab - b_ab)) other=$((a_other - b_other))
    [ "$other" -eq 0 ] ||
      die "Convergences answered $other requests with a status other than 200 (redirect or 401: the cookie is not accepted)"
    [ "$aborted" -le "$CONNECTIONS" ] ||
      die "Convergences saw $aborted requests aborted before their answer (at most one per connection expected, when wrk stops)"
    [ "$ok" -ge "$req" ] ||
      die "Convergences counted $ok proxied 200s for $req wrk requests: requests did not reach the upstream"
  fi
}

# --- warm-up and rounds ----------------------------------------------------------------------

log "warm-up: ${WARMUP} s each"
for t in a b c; do run_one "$t" "$WARMUP" "$BENCH_TMP/warmup-$t.txt"; done

BUSY_MAX=$(busy_processes)
declare -A RES PEAK
for t in a b c; do PEAK[$t]=0; done
for r in $(seq 1 "$ROUNDS"); do
  for t in a b c; do
    b="$(busy_processes)"
    [ "$b" -gt "$BUSY_MAX" ] && BUSY_MAX=$b
    log "round $r/$ROUNDS ${NAME[$t]}: ${DURATION} s, $CONNECTIONS connections"
    run_one "$t" "$DURATION" "$BENCH_TMP/wrk-$t-$r.txt" "$BENCH_TMP/rss-$t-$r.txt"
    RES[$t,$r]="$(parse_wrk "$BENCH_TMP/wrk-$t-$r.txt")"
    set -- ${RES[$t,$r]}
    # CPU time of the server per request, in microseconds: column 7 of RES.
    RES[$t,$r]="${RES[$t,$r]} $(awk -v k="$LAST_CPU_TICKS" -v hz="$CLK_TCK" -v n="$4" 'BEGIN { printf "%.1f", k * 1e6 / hz / n }')"
    rss=$(cat "$BENCH_TMP/rss-$t-$r.txt" 2>/dev/null || echo 0)
    [ "$rss" -gt "${PEAK[$t]}" ] && PEAK[$t]=$rss
  done
done
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
  echo "- Binary: $BUILD_DESC; server.threads = ${GATEWAY_THREADS:-2}, server.work_stealing = ${GATEWAY_WORK_STEALING:-true}; nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), worker_processes 2; $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
  echo "- Convergences log level: $GATEWAY_LOG_LEVEL"
  echo "- wrk -t$WRK_THREADS -c$CONNECTIONS --latency, ${DURATION} s per run, $ROUNDS rounds interleaved a b c, ${WARMUP} s warm-up each; wrk, upstream and proxies share the machine"
  echo "- Load average before/after: $LOAD_BEFORE / $LOAD_AFTER; build processes (rustc, cc, ld...) seen during the runs: up to $BUSY_MAX${BENCH_NOTE:+; $BENCH_NOTE}"
  echo
  echo "| target | requests/s median (min–max) | p50 ms median (min–max) | p99 ms median (min–max) | server CPU µs/request median (min–max) | errors | peak RSS |"
  echo "|---|---|---|---|---|---|---|"
  for t in a b c; do
    read -r rm rl rh < <(stats 1 "$t")
    read -r pm pl ph < <(stats 2 "$t")
    read -r qm ql qh < <(stats 3 "$t")
    read -r um ul uh < <(stats 7 "$t")
    MED[$t,cpu]=$um
    MED[$t,rps]=$rm
    MED[$t,p50]=$pm
    MED[$t,p99]=$qm
    errs=$(($(sum_col 5 "$t") + $(sum_col 6 "$t")))
    case $t in
      a) rssnote="$((PEAK[a] / 1024)) MiB (upstream nginx, master + workers)" ;;
      b) rssnote="$((PEAK[b] / 1024)) MiB (master + 2 workers)" ;;
      c) rssnote="$((PEAK[c] / 1024)) MiB (VmHWM $((GW_HWM / 1024)) MiB)" ;;
    esac
    printf '| %s | %.0f (%.0f–%.0f) | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.1f (%.1f–%.1f) | %s | %s |\n' \
      "${NAME[$t]}" "$rm" "$rl" "$rh" "$pm" "$pl" "$ph" "$qm" "$ql" "$qh" "$um" "$ul" "$uh" "$errs" "$rssnote"
  done
  echo
  awk -v a="${MED[a,rps]}" -v b="${MED[b,rps]}" -v c="${MED[c,rps]}" \
    -v a50="${MED[a,p50]}" -v b50="${MED[b,p50]}" -v c50="${MED[c,p50]}" \
    -v a99="${MED[a,p99]}" -v b99="${MED[b,p99]}" -v c99="${MED[c,p99]}" \
    -v bcpu="${MED[b,cpu]}" -v ccpu="${MED[c,cpu]}" 'BEGIN {
      printf "- Throughput: c/b = %.2f, c/a = %.2f (b/a = %.2f)\n", c / b, c / a, b / a
      printf "- Proxy CPU per request: Convergences %.1f µs, nginx %.1f µs (%.1f×); the least noise-sensitive figure on a shared machine\n", ccpu, bcpu, ccpu / bcpu
      printf "- Added latency over the direct upstream: Convergences p50 %+.2f ms, p99 %+.2f ms; nginx p50 %+.2f ms, p99 %+.2f ms\n", c50 - a50, c99 - a99, b50 - a50, b99 - a99
    }'
  echo "- Errors = wrk non-2xx/3xx answers + socket errors, summed over the rounds; every Convergences answer was checked to be a proxied 200 (gateway metrics)."
  echo "- Server CPU: utime + stime of the server's processes (nginx: master + workers) during the run, divided by the requests wrk counted."
  echo "- Peak RSS: largest sum of VmRSS of the process tree sampled every 0.25 s during its runs (shared pages of nginx workers counted in each)."
  echo
  echo "<details><summary>per round (requests/s, p50 ms, p99 ms, server CPU per request)</summary>"
  echo
  for r in $(seq 1 "$ROUNDS"); do
    line="round $r:"
    for t in a b c; do
      set -- ${RES[$t,$r]}
      line="$line ${t} $1 / $2 / $3 / $7 µs;"
    done
    echo "- ${line%;}"
  done
  echo
  echo "</details>"
  echo
} >"$REPORT"

publish_report "$REPORT"
