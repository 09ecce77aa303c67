#!/usr/bin/env bash
# Runs the unit tests of one vendored Pingora crate (docs/pingora-patches.md), e.g.
#   scripts/test-vendored.sh pingora-core connectors::idle_pool
#   scripts/test-vendored.sh pingora-proxy task_pipe
# Cargo cannot test a path dependency that is not a workspace member, and making the vendored
# crates members would add their development dependencies (criterion, reqwest, ...) to this
# repository's lock file and build. So the crates are copied to a temporary folder where the
# tested one is a workspace of its own, patched to its vendored siblings like the gateway.
# Builds in CARGO_TARGET_DIR (default: target/vendored). Not part of CI: the first build of the
# crates' own development dependencies takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
crate=${1:?usage: scripts/test-vendored.sh <pingora-core|pingora-proxy|pingora-http|pingora-runtime> [test filter]}
filter=${2:-}
[ -d "vendor/$crate" ] || { echo "test-vendored: no vendor/$crate" >&2; exit 2; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/vendored}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r vendor "$tmp/"
# The gateway's lock file pins the versions the two builds share.
cp Cargo.lock "$tmp/vendor/$crate/"
{
  echo
  echo "[workspace]"
  echo
  echo "[patch.crates-io]"
  for sibling in vendor/pingora-*; do
    name=$(basename "$sibling")
    [ "$name" = "$crate" ] || echo "$name = { path = \"../$name\" }"
  done
} >>"$tmp/vendor/$crate/Cargo.toml"
cd "$tmp/vendor/$crate"
cargo test --lib -- ${filter:+"$filter"}
