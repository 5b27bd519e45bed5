#!/usr/bin/env bash
# The whole suite RUNS times in a row (default 3) while stress-ng keeps both cores busy:
# the tests must wait on state, not on time. Prints each run's wall time and result;
# exits non-zero if any run failed. Not run by CI.
#   bash scripts/loaded-suite.sh [RUNS] [pytest arguments...]
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"; shift || true
if ! command -v stress-ng >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null; }
fi
stress-ng --cpu "$(nproc)" --quiet &
STRESS=$!
trap 'kill "$STRESS" 2>/dev/null; wait "$STRESS" 2>/dev/null' EXIT
failed=0
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s)
  bash .ci/run -q -p no:cacheprovider "$@" > "/tmp/loaded-suite-$i.log" 2>&1
  rc=$?
  end=$(date +%s)
  echo "run $i: exit $rc in $((end - start)) s, $(grep -E '(passed|failed)' "/tmp/loaded-suite-$i.log" | tail -1) (log /tmp/loaded-suite-$i.log)"
  [ "$rc" -eq 0 ] || failed=1
done
exit "$failed"
