#!/usr/bin/env bash
# Spack's own keep-list pruning, as a dry run, on a copy of a cache Spack wrote: the
# ground truth of the prune preview (tests/test_storage.py).
#
# Usage: SPACK_ROOT=<spack checkout> SPACK_PYTHON=<python> bash prune_preview.sh MIRROR OUT
#   For each keep list OUT/*.keep: OUT/<name>.spack.txt holds what
#   `spack buildcache prune --keeplist <name>.keep --dry-run` printed (and its exit code).
#   OUT/SPACK_COMMIT: the Spack commit.  The mirror is copied first: nothing is deleted.
set -euo pipefail
MIRROR=$(cd "$1" && pwd); OUT=$(cd "$2" && pwd)
: "${SPACK_ROOT:?set SPACK_ROOT to a Spack checkout}"
W=$(mktemp -d)
cp -r "$MIRROR" "$W/mirror"
export SPACK_USER_CONFIG_PATH=$W/user SPACK_USER_CACHE_PATH=$W/cache SPACK_DISABLE_LOCAL_CONFIG=1
for keep in "$OUT"/*.keep; do
  name=$(basename "$keep" .keep)
  set +e
  "$SPACK_ROOT/bin/spack" buildcache prune --keeplist "$keep" --dry-run "file://$W/mirror" > "$OUT/$name.spack.txt" 2>&1
  echo "exit $?" >> "$OUT/$name.spack.txt"
  set -e
done
git -C "$SPACK_ROOT" rev-parse HEAD > "$OUT/SPACK_COMMIT"
rm -rf "$W"
