"""Benchmark: rebuild causes between two big snapshots, against a plain pandas merge.

    python -m benchmarks.causes [--packages 2000 --configs 500] [--repeat 3] [--keep DIR]

Writes two v3 mirrors of ``--packages`` x ``--configs`` binaries each
(:func:`benchmarks.scenarios.large`: every package depends on the lowest library and up
to 3 others below it) where the new side bumps the lowest library's version (every
binary rebuilt: the worst case for tracing) and changes one mid-DAG recipe.  Both are
loaded once (the store is then warm), and in each of ``--repeat`` fresh processes:

* the two snapshots are read from the store;
* the baseline: a plain pandas outer merge of the two spec tables on the identity
  columns (package, version, variants, compiler, os, target) - what one would write by
  hand, without classes or causes;
* :func:`dashboard.domain.causes.compare` (pairing, classes, root causes, attribution),
  after the loaded caches are let go as ``spack-cache-dashboard why`` does.

Printed: medians of the seconds, the ratio to the merge, and the process's peak RSS
(VmHWM: loading included).  Targets: causes < 15 s and < 3 GB RSS at 1M binaries a side.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, sys, time
from dashboard.load import load
from dashboard.domain.causes import compare, snapshot
t0 = time.perf_counter()
old = load(sys.argv[1], cache_dir=sys.argv[3]); new = load(sys.argv[2], cache_dir=sys.argv[3])
a, b = snapshot(old, old.tags[0]), snapshot(new, new.tags[0])
t_load = time.perf_counter() - t0
keys = ["package", "version", "variants", "compiler", "os", "target"]
t0 = time.perf_counter()
merged = old.specs[keys + ["hash"]].astype(str).merge(new.specs[keys + ["hash"]].astype(str), on=keys, how="outer", suffixes=("_old", "_new"))
t_merge = time.perf_counter() - t0
n_specs = len(new.specs)
del merged, old, new  # as `why` does: the snapshots hold what the comparison needs
t0 = time.perf_counter()
result = compare(a, b)
t_causes = time.perf_counter() - t0
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"load": t_load, "merge": t_merge, "causes": t_causes, "rss": hwm * 1024, "specs": n_specs,
                  "counts": result.counts, "causes_found": result.ranked[["cause", "specs"]].values.tolist()}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--configs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="write (or reuse) the mirrors and store here")
    args = parser.parse_args(argv)
    from benchmarks.scenarios import _recipe, _version, large, write_pair

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="scd-causes-"))
    try:
        old_dir, new_dir, store = work / "old", work / "new", work / "store"
        if not (old_dir.exists() and new_dir.exists()):
            t0 = time.perf_counter()
            old = large(args.packages, args.configs)
            new = old.copy()
            _version(new, "lib-00000", "9.9.9")
            _recipe(new, f"lib-{args.packages // 4:05d}")
            write_pair(work, old, new)
            print(f"wrote two mirrors of {args.packages * args.configs:,} binaries in {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        for side in (old_dir, new_dir):
            subprocess.run([sys.executable, "-c", f"from dashboard.load import load; load({str(side)!r}, cache_dir={str(store)!r})"], check=True, cwd=ROOT)
        print(f"first loads (parse, store written): {time.perf_counter() - t0:.0f} s", flush=True)
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, "-c", _CHILD, str(old_dir), str(new_dir), str(store)], capture_output=True, text=True, check=True, cwd=ROOT)
            runs.append(json.loads(out.stdout))
            print(f"  run: causes {runs[-1]['causes']:.2f} s, merge {runs[-1]['merge']:.2f} s, peak RSS {runs[-1]['rss'] / 2**30:.2f} GiB", flush=True)
        med = {k: statistics.median(r[k] for r in runs) for k in ("load", "merge", "causes", "rss")}
        last = runs[-1]
        print(f"\n{last['specs']:,} binaries a side; {last['counts']}")
        for cause, specs in last["causes_found"]:
            print(f"  {cause}: {specs:,} specs")
        print("\n| measure (medians of %d fresh processes) | measured | target |\n|---|---|---|" % args.repeat)
        print(f"| both snapshots read from the store | {med['load']:.2f} s | |")
        print(f"| baseline: pandas outer merge of the two spec tables on identity | {med['merge']:.2f} s | |")
        print(f"| rebuild causes (`causes.compare`) | {med['causes']:.2f} s = {med['causes'] / med['merge']:.1f}x the merge | < 15 s |")
        print(f"| peak RSS of the process (loading included) | {med['rss'] / 2**30:.2f} GiB | < 3 GB |")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
