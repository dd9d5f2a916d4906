#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for a while each (default
# 20s): ./scripts/fuzz.sh 1m. New crashers land in the package's
# testdata/fuzz and become regression tests.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20s}"
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' || true)
  for target in $targets; do
    echo "== $pkg $target ($duration)"
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$duration"; then
      status=1
    fi
  done
done
exit $status
