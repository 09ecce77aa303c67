#!/usr/bin/env bash
# Starts server.mjs (oidc-provider, pinned in package.json / package-lock.json); installs the
# package from the npm registry first when node_modules is missing or stale. The environment
# is passed on (see server.mjs). Used by tests/it/idp_interop.rs.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/oidc-provider ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
exec node server.mjs
