#!/usr/bin/env bash
# Runs the demo (docs/product.md#demo): embedded SQLite, demo applications and accounts.
# Extra arguments go to `convergences demo` (e.g. --listen 127.0.0.1:9090 --data-dir demo-data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --quiet --bin convergences -- demo "$@"
