"""Time the mirror source: parsing one big index, and reloading a big mirror set.

    python -m benchmarks.mirror_load [--specs 1000000] [--tags 100 --stacks 100] [--repeat 3]
                                     [--spack SPACK_ROOT [--spack-specs 100000]]

1. A generated v3 index of ``--specs`` binaries (:func:`benchmarks.mirrors.synthetic_index`):
   :func:`dashboard.sources.spackdb.parse_index` (JSON -> Arrow tables, the
   product's work) against ``json.loads`` of the same bytes (the baseline,
   measured in the same run), each in a fresh process; median seconds of
   ``--repeat`` runs, the ratio of speeds (target: the parse at most 1.5x the time of json.loads, i.e. >= 0.67x its speed), and
   each process's peak RSS.
   With ``--spack`` (a Spack checkout, e.g. made by ../shared/spack-peer's recipe), Spack's
   own in-process read of an index of ``--spack-specs`` binaries
   (``BuildCacheDatabase._read_from_file``, as Spack reads a mirror's index: records
   become ``Spec`` objects), each in a fresh ``spack python``, against ``parse_index``
   on the same bytes (target: >= 20x).  Without ``--spack`` that column is skipped, and
   the output says so.
2. A ``--tags`` x ``--stacks`` set of small v3 mirrors
   (:func:`benchmarks.mirrors.write_grid`): a cold load (every index fetched
   and parsed), then warm reloads from the local cache (one freshness check
   per mirror, nothing parsed); median seconds (target: < 2 s).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, sys, time
data = open(sys.argv[2], "rb").read()
if sys.argv[1] != "json":
    from dashboard.sources.spackdb import parse_index  # imports are not the parse (Spack's are not timed either)
t = time.perf_counter()
if sys.argv[1] == "json":
    out = json.loads(data)
else:
    out = parse_index(data)
elapsed = time.perf_counter() - t
# VmHWM, not ru_maxrss: ru_maxrss keeps the forking parent's peak across exec
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(elapsed, hwm * 1024)
"""


def _child(kind: str, path: Path) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", _CHILD, kind, str(path)], capture_output=True, text=True, check=True, cwd=ROOT)
    seconds, rss = out.stdout.split()
    return float(seconds), int(rss)


_SPACK_CHILD = """
import pathlib, sys, tempfile, time
import spack.binary_distribution as bd
with tempfile.TemporaryDirectory() as tmp:
    db = bd.BuildCacheDatabase(tmp)
    t = time.perf_counter()
    db._read_from_file(pathlib.Path(sys.argv[1]))
    elapsed = time.perf_counter() - t
    n = len(db._data)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(elapsed, hwm * 1024, n)
"""


def spack_speed(spack_root: Path, specs: int, repeat: int, work: Path) -> list[tuple[str, str, str]]:
    """Spack's in-process read of an index against ``parse_index`` on the same bytes."""
    import os

    from benchmarks.mirrors import synthetic_index

    path = work / "spack-index.json"
    path.write_bytes(synthetic_index(specs, seed=1))
    script = work / "spack_read.py"
    script.write_text(_SPACK_CHILD)
    env = {**os.environ, "SPACK_USER_CONFIG_PATH": str(work / "spack-user"), "SPACK_USER_CACHE_PATH": str(work / "spack-cache"),
           "SPACK_DISABLE_LOCAL_CONFIG": "1"}
    spack, ours = [], []
    for _ in range(repeat):  # in turns: the machine's speed drifts
        out = subprocess.run([str(spack_root / "bin" / "spack"), "python", str(script), str(path)], capture_output=True, text=True,
                             check=True, env=env).stdout.split()
        spack.append(float(out[0]))
        records = int(out[2])
        ours.append(_child("parse_index", path)[0])
    s, o = statistics.median(spack), statistics.median(ours)
    return [
        ("Spack's read (BuildCacheDatabase._read_from_file)", f"{records:,} records: {s:.2f} s median of {repeat}", ""),
        ("parse_index on the same bytes", f"{o:.2f} s median", ""),
        ("speed vs Spack", f"{s / o:.1f}x", ">= 20x"),
    ]


def parse_speed(specs: int, repeat: int, work: Path) -> list[tuple[str, str, str]]:
    """Figures of part 1 as ``(metric, value, target)`` lines."""
    from benchmarks.mirrors import synthetic_index

    path = work / "index.json"
    t = time.perf_counter()
    path.write_bytes(synthetic_index(specs))
    made = time.perf_counter() - t
    size = path.stat().st_size
    runs = {kind: [_child(kind, path) for _ in range(repeat)] for kind in ("json", "parse_index")}
    base = statistics.median(s for s, _ in runs["json"])
    ours = statistics.median(s for s, _ in runs["parse_index"])
    return [
        ("index", f"{specs:,} binaries, {size / 1e6:,.0f} MB (generated in {made:.0f} s)", ""),
        ("json.loads (baseline)", f"{base:.2f} s median, {size / 1e6 / base:,.0f} MB/s, peak RSS {max(r for _, r in runs['json']) / 2**20:,.0f} MiB", ""),
        ("parse_index -> Arrow", f"{ours:.2f} s median, {size / 1e6 / ours:,.0f} MB/s, peak RSS {max(r for _, r in runs['parse_index']) / 2**20:,.0f} MiB", ""),
        ("speed vs json.loads", f"{base / ours:.2f}x", ">= 0.67x (<= 1.5x its time)"),
    ]


def reload_speed(tags: int, stacks: int, repeat: int, work: Path) -> list[tuple[str, str, str]]:
    """Figures of part 2 as ``(metric, value, target)`` lines."""
    from benchmarks.mirrors import write_grid
    from dashboard.load import load

    t = time.perf_counter()
    index = write_grid(work / "grid", tags, stacks)
    made = time.perf_counter() - t
    cache = work / "cache"
    t = time.perf_counter()
    cold = load(index, cache_dir=cache)
    cold_s = time.perf_counter() - t
    warm = []
    for _ in range(repeat):
        t = time.perf_counter()
        again = load(index, cache_dir=cache)
        warm.append(time.perf_counter() - t)
    assert again.report.mirrors.unchanged == tags * stacks and len(again.specs) == len(cold.specs)
    return [
        ("mirror set", f"{tags} tags x {stacks} stacks = {tags * stacks:,} mirrors, {len(cold.specs):,} spec rows (written in {made:.0f} s)", ""),
        ("cold load (fetch + parse all)", f"{cold_s:.2f} s", ""),
        ("warm reload from the local cache", f"{statistics.median(warm):.2f} s median of {repeat}", "< 2 s"),
        ("cold / warm", f"{cold_s / statistics.median(warm):.1f}x", ""),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--stacks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spack", metavar="SPACK_ROOT", help="a Spack checkout: also time Spack's own read of an index")
    parser.add_argument("--spack-specs", type=int, default=100_000, help="binaries in the index Spack reads (default 100,000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mirror-bench-") as tmp:
        lines = parse_speed(args.specs, args.repeat, Path(tmp))
        if args.spack:
            lines += spack_speed(Path(args.spack), args.spack_specs, args.repeat, Path(tmp))
        else:
            lines.append(("Spack's read", "skipped: no --spack checkout given", ">= 20x"))
        lines += reload_speed(args.tags, args.stacks, args.repeat, Path(tmp))
    width = max(len(m) for m, _, _ in lines)
    for metric, value, target in lines:
        print(f"{metric:<{width}}  {value}" + (f"   (target {target})" if target else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
