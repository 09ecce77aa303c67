#!/usr/bin/env bash
# Runs the test suite.
#   scripts/test.sh             unit + integration tests on SQLite and in-process sessions
#   scripts/test.sh --services  the integration suite on PostgreSQL (127.0.0.1:5432, database
#                               test, user postgres) and Redis (127.0.0.1:6379), started here if
#                               they are down
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

if [ "${1:-}" != "--services" ]; then
  exec cargo test
fi

start_postgres() {
  pg_isready -q -h 127.0.0.1 -p 5432 && return 0
  echo "test: starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && return 0; sleep 0.5; done
  echo "test: PostgreSQL did not start on 127.0.0.1:5432" >&2
  return 1
}
start_redis() {
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0
  echo "test: starting Redis" >&2
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 60); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "test: Redis did not start on 127.0.0.1:6379" >&2
  return 1
}
start_postgres
start_redis

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
# Schemas left behind by an interrupted run.
psql -q -h 127.0.0.1 -U postgres -d test -v ON_ERROR_STOP=1 -c \
  "DO \$\$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\_%' LOOP EXECUTE 'DROP SCHEMA ' || quote_ident(s) || ' CASCADE'; END LOOP; END \$\$;" || true
exec cargo test --test it
