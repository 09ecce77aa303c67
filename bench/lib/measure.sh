# Readings of a server under load, shared by the benchmarks: CPU time and peak RSS of a process
# tree from /proc (no forks, so sampling costs the measured machine little), and wrk's summary.
# Sourced after common.sh (parse_wrk dies through its `die`).

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
