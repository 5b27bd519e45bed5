"""Time the mirror source: parsing one big index, and reloading a big mirror set.

    python -m benchmarks.mirror_load [--specs 1000000] [--tags 100 --stacks 100] [--repeat 3]

1. A generated v3 index of ``--specs`` binaries (:func:`benchmarks.mirrors.synthetic_index`):
   :func:`dashboard.sources.spackdb.parse_index` (JSON -> Arrow tables, the
   product's work) against ``json.loads`` of the same bytes (the baseline,
   measured in the same run), each in a fresh process; median seconds of
   ``--repeat`` runs, the ratio of speeds (target: >= 0.5x json.loads), and
   each process's peak RSS.
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
t = time.perf_counter()
if sys.argv[1] == "json":
    out = json.loads(data)
else:
    from dashboard.sources.spackdb import parse_index
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
        ("speed vs json.loads", f"{base / ours:.2f}x", ">= 0.5x"),
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mirror-bench-") as tmp:
        lines = parse_speed(args.specs, args.repeat, Path(tmp)) + reload_speed(args.tags, args.stacks, args.repeat, Path(tmp))
    width = max(len(m) for m, _, _ in lines)
    for metric, value, target in lines:
        print(f"{metric:<{width}}  {value}" + (f"   (target {target})" if target else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
