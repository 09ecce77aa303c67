#!/usr/bin/env bash
# The repository explains itself: nothing in the code, tests, benchmarks, docs or README points
# to material outside it (the original specification, issue numbers, session notes).
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\.\./shared|shared/(SPEC|STACK|STYLE|seeds)|STACK-NOTES|\bSPEC( section)? [0-9]|\b[Ii]ssues? #?[0-9]+|issues'"'"' notes'
if grep -rnE "$pattern" src tests bench docs README.md config deploy scripts \
    --exclude-dir=node_modules --exclude=check-refs.sh; then
  echo "check-refs: the lines above point outside the repository; point them to docs/ instead" >&2
  exit 1
fi
echo "check-refs: no reference outside the repository"
