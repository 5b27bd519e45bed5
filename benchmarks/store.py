"""Benchmark: the store's incremental reload, this version beside another source tree.

    python -m benchmarks.store [--size small|full] [--tree DIR] [--baseline SRC]

On one generated pages tree (:mod:`benchmarks.generate`), each in a fresh process as
when the dashboard starts (imports excluded from the times):

* the first load, which parses every page and writes the store;
* the warm reload (nothing changed: the change check and the store read), median of 3;
* 3 rounds of touching a new 1% of the pages, each reloaded through the store and
  followed by a cold load (no store) right after it: the reload as a fraction of that
  cold load, median of the 3 pairs;
* the store's bytes on disk.

``--baseline SRC`` runs the same steps with another source tree (for instance a
``git worktree`` of an older commit) in turns with this one: both see the same pages,
touched at the same moments, each through its own store, and the ratios
this/baseline are printed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import LOAD_SCRIPT, SIZES, tree_for
from dashboard.load import find_pages

HERE = Path(__file__).resolve().parent.parent


def fresh_load(source: Path, tree: Path, store: Path | None) -> dict:
    """``load(tree)`` by the code in ``source`` in a new process, through ``store``
    (``None``: no store): ``{"seconds", "status", "rows"}``."""
    import json

    out = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(tree), str(store or "")], capture_output=True, text=True, check=True,
                         cwd=source, env={**os.environ, "PYTHONPATH": str(source)}).stdout
    return json.loads(out)


def disk_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def touch(paths: list[str], seed: int) -> int:
    """Move the mtime of a random 1% of ``paths`` one second on; returns how many."""
    touched = random.Random(seed).sample(paths, max(1, len(paths) // 100))
    for p in touched:
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    os.sync()  # the touching's own disk writes are not the loader's time
    return len(touched)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--tree", help="use this existing tree (it is touched) instead of generating one")
    parser.add_argument("--baseline", metavar="SRC", help="another source tree measured in turns with this one")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="scd-store-bench-"))
    sources = {"this": HERE}
    if args.baseline:
        sources["baseline"] = Path(args.baseline).resolve()
    try:
        tree = tree_for(args, work)
        paths = find_pages(tree)
        os.sync()
        stores = {name: work / f"store-{name}" for name in sources}
        fig: dict[str, dict] = {name: {} for name in sources}
        for name, src in sources.items():
            fig[name]["first"] = fresh_load(src, tree, stores[name])["seconds"]
        time.sleep(2.5)  # folders written in the last 2 s are listed, not trusted: real trees are old
        for name, src in sources.items():
            fresh_load(src, tree, stores[name])  # settle (the generator's last folders)
            fig[name]["bytes"] = disk_bytes(stores[name])
        warm: dict[str, list] = {name: [] for name in sources}
        for _ in range(3):
            for name, src in sources.items():
                got = fresh_load(src, tree, stores[name])
                assert got["status"].startswith("warm"), (name, got)
                warm[name].append(got["seconds"])
        touched: dict[str, list] = {name: [] for name in sources}
        for run in range(3):  # a new 1% each time: each reload appends a store segment
            n = touch(paths, 2 + run)
            time.sleep(2.5)  # past the 2 s in which a changed folder is always listed again
            reloads = {name: fresh_load(src, tree, stores[name]) for name, src in sources.items()}
            for name, src in sources.items():
                cold = fresh_load(src, tree, None)["seconds"]
                touched[name].append((reloads[name]["seconds"], reloads[name]["seconds"] / cold, reloads[name]["status"]))
        rows = fresh_load(HERE, tree, stores["this"])["rows"]
        print(f"\n{len(paths):,} pages, {rows:,} spec rows; {n:,} pages touched a round\n")
        print("| measure | " + " | ".join(sources) + (" | this / baseline |" if args.baseline else " |"))
        print("|---|" + "---|" * len(sources) + ("---|" if args.baseline else ""))

        def row(what, values, fmt, ratio=True):
            cells = [fmt(v) for v in values.values()]
            extra = [f"{values['this'] / values['baseline']:.2f}x"] if args.baseline and ratio else ([""] if args.baseline else [])
            print(f"| {what} | " + " | ".join(cells + extra) + " |")

        row("first load, parsing and writing the store", {n: fig[n]["first"] for n in sources}, lambda v: f"{v:.2f} s")
        row("warm reload, median of 3", {n: statistics.median(warm[n]) for n in sources}, lambda v: f"{v:.2f} s")
        row("reload after touching 1%, median of 3", {n: statistics.median(t[0] for t in touched[n]) for n in sources}, lambda v: f"{v:.2f} s")
        row("the same, share of a cold load right after it (median of 3 pairs)", {n: statistics.median(t[1] for t in touched[n]) for n in sources},
            lambda v: f"{100 * v:.1f}%")
        row("store on disk", {n: fig[n]["bytes"] for n in sources}, lambda v: f"{v / 2**20:,.0f} MiB")
        for name in sources:
            print(f"\n{name}: touched reloads " + ", ".join(f"{s:.2f} s = {100 * r:.1f}% ({st})" for s, r, st in touched[name]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
