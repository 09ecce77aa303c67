#!/usr/bin/env bash
# Real-browser end-to-end and accessibility suite (docs/product.md#accessibility): Debian's
# Chromium driven by playwright-core, axe-core on every page reached, against
# `convergences demo` on loopback.
#
#   tests/e2e/run.sh [--screenshots] [scenario files...]
#
# --screenshots   also (re)write docs/screenshots/*.png (1280x800)
# Environment:    CARGO_TARGET_DIR (default: target/ at the repo root), E2E_BIN (use this binary,
#                 no build), E2E_PROFILE=release (build --release), E2E_CHROMIUM (default
#                 /usr/bin/chromium).
# A whole run, or one that includes the identity-provider scenario, then runs the integration
# test against the real identity provider (oidc-provider) on SQLite, and again on PostgreSQL +
# Redis when they answer (E2E_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test, a
# fresh schema per gateway; E2E_REDIS_URL, default redis://127.0.0.1:6379). A whole run then
# runs the OpenID Connect interoperability test (openid-client).
# The last line printed is "N passed, M failed"; the exit status is non-zero on any failure, and
# the screenshots and HTML of the failing steps plus the gateway log are kept in the printed
# folder under tests/e2e/artifacts/.
set -euo pipefail

CALLER_PWD="$PWD"
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

SCREENSHOTS=""
FILES=()
for arg in "$@"; do
  case "$arg" in
    --screenshots) SCREENSHOTS="$REPO/docs/screenshots" ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    /*) FILES+=("$arg") ;;
    *) FILES+=("$CALLER_PWD/$arg") ;;
  esac
done
ALL=""
if [ ${#FILES[@]} -eq 0 ]; then
  FILES=("$HERE"/scenarios/*.test.js)
  ALL=1
fi

START=$(date +%s)
log() { echo "== e2e: $*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

# --- what the suite needs -----------------------------------------------------------------------
CHROMIUM="${E2E_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ] || ! command -v curl >/dev/null; then
  log "installing chromium, chromium-driver, curl (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver curl >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs, npm (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The real OpenID Connect provider of the identity-provider scenario (pinned in idp/).
if [ ! -d idp/node_modules/oidc-provider ] || [ idp/package-lock.json -nt idp/node_modules/.package-lock.json ]; then
  log "npm ci (idp)"
  (cd idp && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ -n "${E2E_BIN:-}" ]; then
  BIN="$E2E_BIN"
else
  TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
  PROFILE_ARGS=()
  PROFILE_DIR=debug
  if [ "${E2E_PROFILE:-debug}" = release ]; then PROFILE_ARGS=(--release); PROFILE_DIR=release; fi
  log "cargo build --bin convergences ${PROFILE_ARGS[*]:-} (target: $TARGET)"
  (cd "$REPO" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin convergences "${PROFILE_ARGS[@]}")
  BIN="$TARGET/$PROFILE_DIR/convergences"
fi
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }

# --- the gateway --------------------------------------------------------------------------------
ARTIFACTS="$HERE/artifacts/run-$(date -u +%Y%m%dT%H%M%SZ)-$$"
mkdir -p "$ARTIFACTS"
DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/convergences-e2e-XXXXXX")"
GATEWAY_PID=""
IDP_PID=""
RESULT_LINE=""

stop_gateway() {
  if [ -n "$GATEWAY_PID" ] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
    kill -INT "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
  GATEWAY_PID=""
}

stop_idp() {
  if [ -n "$IDP_PID" ] && kill -0 "$IDP_PID" 2>/dev/null; then
    kill "$IDP_PID" 2>/dev/null || true
    wait "$IDP_PID" 2>/dev/null || true
  fi
  IDP_PID=""
}

# Starts the test provider for a gateway on $PORT, on its own free port; waits until it listens.
start_idp() {
  stop_idp
  IDP_PORT="$(pick_port)"
  IDP_PORT="$IDP_PORT" \
  IDP_REDIRECT_URI="http://auth.localhost:$PORT/login/fournisseur/test/retour" \
  IDP_POST_LOGOUT_URI="http://auth.localhost:$PORT/login/fournisseur/deconnexion" \
    node "$HERE/idp/server.mjs" >"$ARTIFACTS/idp.log" 2>&1 &
  IDP_PID=$!
  for _ in $(seq 1 100); do
    if grep -q '^idp ready' "$ARTIFACTS/idp.log"; then return 0; fi
    if ! kill -0 "$IDP_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "the test identity provider did not start:" >&2
  cat "$ARTIFACTS/idp.log" >&2
  exit 1
}

cleanup() {
  local status=$?
  stop_gateway
  stop_idp
  rm -rf "$DATA_DIR"
  if [ "$status" -eq 0 ]; then
    rm -rf "$ARTIFACTS"
  else
    echo "artefacts (screenshots, HTML of the failing steps, gateway log): $ARTIFACTS"
  fi
  echo "duration: $(( $(date +%s) - START )) s"
  if [ -z "$RESULT_LINE" ]; then RESULT_LINE="0 passed, 1 failed"; fi
  echo "$RESULT_LINE"
  exit "$status"
}
trap cleanup EXIT

# A free port below Linux's ephemeral range (32768+), where the ports that other programs and
# test suites get from the kernel are; the gateway must then really own it (another server on
# the same port would otherwise answer /healthz in its place).
pick_port() {
  node -e '
    const net = require("net");
    const tryPort = (n) => {
      const p = 20000 + Math.floor(Math.random() * 12000);
      const s = net.createServer();
      s.once("error", () => (n > 0 ? tryPort(n - 1) : process.exit(1)));
      s.listen(p, "127.0.0.1", () => { console.log(p); s.close(); });
    };
    tryPort(50);'
}

owns_port() {
  if command -v ss >/dev/null; then
    ss -Htlnp "sport = :$PORT" 2>/dev/null | grep -q "pid=$GATEWAY_PID,"
  else
    ! grep -q 'is in use' "$ARTIFACTS/gateway.log"
  fi
}

ready=""
for attempt in 1 2 3 4 5; do
  PORT="$(pick_port)"
  if [ "$attempt" = 1 ] && [ -n "${E2E_TRY_PORT:-}" ]; then PORT="$E2E_TRY_PORT"; fi
  start_idp
  log "starting $BIN demo on 127.0.0.1:$PORT (data: $DATA_DIR, test provider on $IDP_PORT)"
  CONVERGENCES_LOG="${CONVERGENCES_LOG:-info}" "$BIN" demo --listen "127.0.0.1:$PORT" --data-dir "$DATA_DIR" \
    --test-provider "http://127.0.0.1:$IDP_PORT" \
    >"$ARTIFACTS/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  port_taken=""
  for _ in $(seq 1 300); do
    if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
      echo "the gateway exited before it was ready:" >&2
      tail -n 30 "$ARTIFACTS/gateway.log" >&2
      exit 1
    fi
    if grep -q 'is in use' "$ARTIFACTS/gateway.log"; then
      port_taken=1
      break
    fi
    # /healthz answers, from our process, and the demo directory is seeded (the banner is
    # printed after seeding).
    if grep -q 'Convergences demo is running' "$ARTIFACTS/gateway.log" \
       && curl -fsS -o /dev/null --max-time 2 -H 'Host: auth.localhost' "http://127.0.0.1:$PORT/healthz" 2>/dev/null \
       && owns_port; then
      ready=1
      break
    fi
    sleep 0.2
  done
  [ -n "$ready" ] && break
  if [ -n "$port_taken" ]; then
    log "port $PORT taken meanwhile by another program; trying another"
    stop_gateway
    mv "$ARTIFACTS/gateway.log" "$ARTIFACTS/gateway-attempt$attempt.log"
    rm -rf "$DATA_DIR" && mkdir -p "$DATA_DIR"
    continue
  fi
  echo "the gateway did not answer /healthz within 60 s" >&2
  tail -n 30 "$ARTIFACTS/gateway.log" >&2
  exit 1
done
if [ -z "$ready" ]; then
  echo "no free port found for the gateway" >&2
  exit 1
fi
log "gateway ready after $(( $(date +%s) - START )) s; running ${#FILES[@]} scenario file(s)"

# --- the suite ----------------------------------------------------------------------------------
set +e
E2E_PORT="$PORT" E2E_DATA_DIR="$DATA_DIR" E2E_ARTIFACTS="$ARTIFACTS" E2E_SCREENSHOTS="$SCREENSHOTS" \
E2E_CHROMIUM="$CHROMIUM" E2E_GATEWAY_BIN="$BIN" \
  node --test --test-concurrency=1 --test-timeout=180000 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$ARTIFACTS/results.tap" \
    "${FILES[@]}"
NODE_STATUS=$?
set -e

touch "$ARTIFACTS/results.tap"
PASSED=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$ARTIFACTS/results.tap" | tail -n 1)
FAILED=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$ARTIFACTS/results.tap" | tail -n 1)
CANCELLED=$(sed -n 's/^# cancelled \([0-9][0-9]*\)$/\1/p' "$ARTIFACTS/results.tap" | tail -n 1)
TODO=$(sed -n 's/^# todo \([0-9][0-9]*\)$/\1/p' "$ARTIFACTS/results.tap" | tail -n 1)
if [ "${TODO:-0}" -ne 0 ]; then
  echo "known bugs (scenarios marked todo, not counted): $TODO — see the ✖ ... # lines above"
fi
PASSED=${PASSED:-0}
FAILED=$(( ${FAILED:-0} + ${CANCELLED:-0} ))
if [ "$NODE_STATUS" -ne 0 ] && [ "$FAILED" -eq 0 ]; then FAILED=1; fi
RESULT_LINE="$PASSED passed, $FAILED failed"
if [ "$FAILED" -ne 0 ] || [ "$PASSED" -eq 0 ]; then
  exit 1
fi

# --- interoperability with a real identity provider (oidc-provider, tests/e2e/idp, configured
# like ProConnect), driven by tests/it/identity_providers_interop.rs through a test gateway: on
# SQLite and in-process sessions, then on PostgreSQL and Redis when both answer.
IDP_SCENARIO=""
for f in "${FILES[@]}"; do
  case "$f" in *12-identity-provider*) IDP_SCENARIO=1 ;; esac
done
reachable() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
idp_interop() {
  (cd "$REPO" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}" CONVERGENCES_INTEROP=1 \
     "$@" cargo test --quiet --test it identity_providers_interop::)
}
if [ -n "$ALL" ] || [ -n "$IDP_SCENARIO" ]; then
  log "identity-provider interoperability (oidc-provider): SQLite, in-process sessions"
  if ! idp_interop env -u TEST_DATABASE_URL -u TEST_REDIS_URL; then
    RESULT_LINE="$PASSED passed, 1 failed (identity provider, SQLite)"
    exit 1
  fi
  PASSED=$((PASSED + 1))
  DB_URL="${E2E_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
  REDIS="${E2E_REDIS_URL:-redis://127.0.0.1:6379}"
  if reachable 127.0.0.1 5432 && reachable 127.0.0.1 6379; then
    log "identity-provider interoperability (oidc-provider): PostgreSQL + Redis"
    if ! idp_interop env TEST_DATABASE_URL="$DB_URL" TEST_REDIS_URL="$REDIS"; then
      RESULT_LINE="$PASSED passed, 1 failed (identity provider, PostgreSQL + Redis)"
      exit 1
    fi
    PASSED=$((PASSED + 1))
  else
    log "PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) not answering: identity-provider interoperability not run on them"
  fi
  RESULT_LINE="$PASSED passed, 0 failed"
fi

# --- interoperability: a relying-party library nobody here wrote (openid-client, npm) signs in
# through the OpenID Connect provider of a test gateway (tests/it/oidc_provider.rs; its script
# installs the pinned package). Node.js is here now, so the test may not skip. Whole runs only.
[ -n "$ALL" ] || exit 0
log "OpenID Connect interoperability (openid-client)"
if ! (cd "$REPO" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}" CONVERGENCES_INTEROP=1 \
      cargo test --quiet --test it oidc_provider::interop_with_openid_client); then
  RESULT_LINE="$PASSED passed, 1 failed (OpenID Connect interoperability)"
  exit 1
fi
RESULT_LINE="$((PASSED + 1)) passed, 0 failed"
exit 0
