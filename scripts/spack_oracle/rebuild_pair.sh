#!/usr/bin/env bash
# Two real build caches that differ by one cause, built and pushed by Spack itself, and
# Spack's own `spack diff` of their roots: the ground truth of tests/test_causes.py.
#
# Usage: SPACK_ROOT=<spack checkout> SPACK_PYTHON=<python with clingo> bash rebuild_pair.sh WORKDIR OUT
#   OUT/old, OUT/new : v3 mirrors (unsigned): the same roots (papp@1.0.0 ^pcore@3.2.1, pcore@3.2.1 +threads,
#                      ptool@0.4) built against plib@1.0, then against plib@1.2
#   OUT/spack-diff.txt, OUT/spack-diff.json : `spack diff` of the two papp roots
#   OUT/hashes.json    : each side's hashes by package, as `spack find` prints them
#   OUT/SPACK_COMMIT   : the Spack commit that made them
# Uses the peer packages of ../shared/spack-peer (no download: install() writes a file).
set -euo pipefail
W=$(mkdir -p "$1" && cd "$1" && pwd); OUT=$(mkdir -p "$2" && cd "$2" && pwd)
KIT=${SPACK_PEER:-$(cd "$(dirname "$0")/../../../shared/spack-peer" && pwd)}
: "${SPACK_ROOT:?set SPACK_ROOT to a Spack checkout}"
PY=${SPACK_PYTHON:-python3}
"$PY" -c "import clingo" || { echo "need clingo for $PY: pip install clingo" >&2; exit 1; }
mkdir -p "$W"/{user,cache,system,stage,opt}
cp -r "$KIT/repos" "$W/"
export SPACK_PYTHON=$PY SPACK_USER_CONFIG_PATH=$W/user SPACK_USER_CACHE_PATH=$W/cache SPACK_SYSTEM_CONFIG_PATH=$W/system
export PATH=$SPACK_ROOT/bin:$PATH
cat > "$W/user/config.yaml" <<Y
config: {install_tree: {root: $W/opt}, build_stage: [$W/stage], source_cache: $W/srccache, misc_cache: $W/cache/misc}
Y
cat > "$W/user/repos.yaml" <<Y
repos::
  peer: $W/repos/spack_repo/peer
  builtin_mock: $SPACK_ROOT/var/spack/test_repos/spack_repo/builtin_mock
Y
cat > "$W/user/packages.yaml" <<Y
packages:
  gcc:
    externals:
    - {spec: "gcc@12.2.0 languages='c,c++'", prefix: /usr, extra_attributes: {compilers: {c: /usr/bin/gcc, cxx: /usr/bin/g++}}}
Y
ROOTS=('papp@1.0.0 ^pcore@3.2.1' 'pcore@3.2.1 +threads' 'ptool@0.4')
for side in old new; do
  plib=$([ $side = old ] && echo 1.0 || echo 1.2)
  hashes=()
  for root in "${ROOTS[@]}"; do
    spec="$root"; [[ $root == ptool* ]] || spec="$root ^plib@$plib"
    spack install --fresh $spec
    hashes+=("/$(spack find --format '{hash}' $spec | head -1)")
  done
  rm -rf "$OUT/$side"
  spack find --format '{name} {version} {hash}' --deps "${hashes[@]}" > "$OUT/$side.find.txt"
  # the peer packages only, as setup.sh pushes them (the runtime libraries are 9 MB of tarball)
  peer=$(awk '$1 ~ /^(papp|pcore|plib|ptool)$/ {print "/" $3}' "$OUT/$side.find.txt" | sort -u)
  spack buildcache push --unsigned --only package --update-index "$OUT/$side" $peer
  echo "${hashes[0]}" > "$W/$side.papp"
done
spack diff "$(cat "$W/old.papp")" "$(cat "$W/new.papp")" > "$OUT/spack-diff.txt"
spack diff --json "$(cat "$W/old.papp")" "$(cat "$W/new.papp")" > "$OUT/spack-diff.json"
git -C "$SPACK_ROOT" rev-parse HEAD > "$OUT/SPACK_COMMIT"
spack --version >> "$OUT/SPACK_COMMIT"
echo "done: $OUT"
