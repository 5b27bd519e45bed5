#!/usr/bin/env bash
# Has Spack list every layout the mirror generator (benchmarks/mirrors.py) writes?
#   SPACK=/path/to/spack/bin/spack bash scripts/spack_oracle/check_generator.sh
# For each layout and index database version the generator allows, it writes one mirror
# of the develop-2025-03-30 tag's root from the shipped pages and asks
# `spack buildcache list --allarch` (a private Spack configuration, nothing global).
# Prints one line per layout: records written, records Spack listed (it lists externals
# too), Spack's error if any.
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${SPACK:?set SPACK to the bin/spack of a Spack checkout}"
PY="${PYTHON:-python3}"
W=$(mktemp -d)
export SPACK_USER_CONFIG_PATH=$W/user SPACK_USER_CACHE_PATH=$W/cache SPACK_SYSTEM_CONFIG_PATH=$W/system SPACK_DISABLE_LOCAL_CONFIG=1
mkdir -p "$W/user" "$W/scope"
echo "spack $("$SPACK" --version) $(git -C "$(dirname "$SPACK")/.." rev-parse HEAD 2>/dev/null)"
for item in v3:8 v2:8 v2:7; do
  layout=${item%%:*}; db=${item##*:}
  out="$W/$layout-db$db"
  written=$("$PY" scripts/spack_oracle/write_generated.py "$out" "$layout" "$db")
  cat > "$W/scope/mirrors.yaml" <<Y
mirrors::
  m: {url: "file://$out", signed: false}
Y
  listed=$("$SPACK" -C "$W/scope" buildcache list --allarch 2>"$W/err" | grep -cE '^[a-z0-9]')
  echo "layout $layout db v$db: written $written; Spack lists $listed $(grep -m1 -i error "$W/err")"
done
rm -rf "$W"
