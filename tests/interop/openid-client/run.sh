#!/usr/bin/env bash
# Runs rp.mjs (openid-client, pinned in package.json / package-lock.json) against a gateway;
# installs the package from the npm registry first when node_modules is missing or stale.
# Arguments are passed to rp.mjs. Used by tests/it/oidc_provider.rs.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/openid-client ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
exec node rp.mjs "$@"
