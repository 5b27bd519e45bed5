"""Benchmark: load throughput, cached reload, query latency and memory.

    python -m benchmarks.run [--size small|full] [--tree DIR] [--keep]

Everything is measured in the same run on the same machine, so ratios are
meaningful even on a shared, noisy box (medians over repeats are reported):

* cold load of the tree by this loader (no cache) vs a naive baseline (PyYAML's
  C loader on each page's front matter, one dict per spec row, one DataFrame at
  the end) and vs the limit (``json.loads`` of the ``meta`` and ``spec_details``
  lines alone, no DataFrame) - pages/s, spec rows/s and both ratios (3 rounds
  of the three in turn, medians);
* first load writing the store, warm reload from it, and the reload
  after touching 1% of the pages (3 times, each as a fraction of a cold load
  measured right after it);
* one selector change (``query.compute`` + the table rows) at 1M and 2M spec rows,
  median and p95 over 60 random selections;
* peak RSS of a fresh process holding 1M spec rows (loaded and indexed);
* end to end in headless Chromium (:mod:`benchmarks.browser`): first render,
  selector picks, 20 sessions at once, the server idling and stopping after.

Sizes: ``small`` (default) generates 20 tags x 500 packages; the 1M/2M-row query
and memory figures then tile the loaded rows (tags renamed per copy).  ``full``
generates 100 tags x 1,500 packages (>= 2M rows) and measures it directly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks.generate import generate
from dashboard.domain import query
from dashboard.load import CacheData, find_pages, load

SIZES = {"small": dict(tags=20, packages=500, mean_specs=14.3), "full": dict(tags=100, packages=1500, mean_specs=14.3)}


def naive_load(paths: list[str]) -> pd.DataFrame:
    """The baseline: PyYAML (C loader) per page, a dict per spec row, one DataFrame."""
    rows = []
    for path in paths:
        text = Path(path).read_text()
        front = text.split("\n---", 1)[0][4:]
        doc = yaml.load(front, Loader=yaml.CSafeLoader)
        tag = doc["categories"][1]
        for spec in doc["spec_details"]:
            rows.append(dict(spec, tag=tag, package=doc["title"]))
    return pd.DataFrame(rows)


def json_limit(paths: list[str]) -> int:
    """The limit: read each page and ``json.loads`` its meta and spec_details lines."""
    n = 0
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.startswith("meta: "):
                json.loads(line[6:])
            elif line.startswith("spec_details: "):
                n += len(json.loads(line[14:]))
    return n


def timed(fn, repeat: int = 3):
    """(median seconds, last result) over ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def tile(data: CacheData, rows: int) -> CacheData:
    """Repeat ``data``'s spec rows (tags renamed per copy) until ``rows`` spec rows."""
    copies = max(1, -(-rows // len(data.specs)))
    specs, stacks = [], []
    for k in range(copies):
        s = data.specs.copy()
        s["tag"] = s["tag"].cat.rename_categories(lambda t: f"{t}~{k}")
        specs.append(s)
        st = data.spec_stacks.copy()
        st["spec"] = st["spec"] + k * len(data.specs)
        stacks.append(st)
    from pandas.api.types import union_categoricals

    tags = union_categoricals([s["tag"] for s in specs])
    big = pd.concat(specs, ignore_index=True)
    big["tag"] = tags
    big = big.iloc[:rows]
    ss = pd.concat(stacks, ignore_index=True)
    ss = ss[ss["spec"] < rows].reset_index(drop=True)
    return CacheData(specs=big, spec_stacks=ss, pages=data.pages, meta_stacks=data.meta_stacks, problems=data.problems)


def random_selections(index: query.SpecIndex, n: int, seed: int = 0):
    rnd = random.Random(seed)
    for _ in range(n):
        kw = {}
        for dim in query.DIMENSIONS:
            if rnd.random() < 0.4:
                cats = list(index.categories[dim])
                kw[dim] = tuple(rnd.sample(cats, min(len(cats), rnd.randint(1, 3))))
        if rnd.random() < 0.2:
            kw["package"] = rnd.choice(["pkg-00", "1", "pkg-012"])
        yield query.Selection(**kw)


def query_latency(data: CacheData, n: int = 60) -> dict:
    index = query.build_index(data)
    times = []
    for sel in random_selections(index, n):
        t0 = time.perf_counter()
        result = query.compute(index, sel, top_n=30)
        query.table_rows(index, result.mask)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_ms": 1000 * statistics.median(times), "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))]}


def take_tags(data: CacheData, tags: list[str]) -> CacheData:
    """The spec rows of ``tags`` only (spec ids renumbered), as a real smaller data set."""
    keep = data.specs["tag"].isin(tags).to_numpy()
    new_id = np.cumsum(keep) - 1
    ss = data.spec_stacks[keep[data.spec_stacks["spec"].to_numpy()]]
    stacks = pd.DataFrame({"spec": new_id[ss["spec"].to_numpy()].astype(np.int32), "stack": ss["stack"].reset_index(drop=True)})
    specs = data.specs[keep].reset_index(drop=True)
    return CacheData(specs=specs, spec_stacks=stacks, pages=data.pages, meta_stacks=data.meta_stacks, problems=data.problems)


def tags_for(data: CacheData, rows: int) -> list[str] | None:
    """The fewest leading tags (sorted) holding at least ``rows`` spec rows, or ``None``."""
    per_tag = data.specs["tag"].value_counts().sort_index()
    total = per_tag.cumsum()
    if total.iloc[-1] < rows:
        return None
    return [str(t) for t in per_tag.index[: int(np.searchsorted(total.to_numpy(), rows)) + 1]]


RSS_SCRIPT = """
import sys
from dashboard.load import load
from dashboard.domain import query
from benchmarks.run import tile
sources = sys.argv[3:]
data = load(sources if len(sources) > 1 else sources[0], cache_dir=sys.argv[1])
rows = int(sys.argv[2])
if rows and len(data.specs) < rows:
    data = tile(data, rows)
index = query.build_index(data)
result = query.compute(index, query.Selection())
query.table_rows(index, result.mask)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(len(data.specs), hwm)
"""


LOAD_SCRIPT = """
import json, sys, time
from dashboard.load import load
t0 = time.perf_counter()
data = load(sys.argv[1], cache=sys.argv[2] != "", cache_dir=sys.argv[2] or None)
print(json.dumps({"seconds": time.perf_counter() - t0, "status": data.cache_status, "rows": len(data.specs)}))
"""


def in_fresh_process(script: str, *args: str) -> str:
    """Standard output of ``script`` run by a new Python process from the repository root."""
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent
    ).stdout


def fresh_load(tree: Path, cache_dir: Path | None) -> dict:
    """``load(tree)`` in a fresh process (through ``cache_dir``; ``None``: no cache):
    ``{"seconds": load time (imports excluded), "status": cache_status, "rows": spec rows}``."""
    return json.loads(in_fresh_process(LOAD_SCRIPT, str(tree), str(cache_dir or "")))


def peak_rss(sources: list[Path], cache_dir: Path, tile_to: int = 0) -> tuple[int, float]:
    """(spec rows held, peak RSS in MB) of a fresh process that loads ``sources``
    (through ``cache_dir``), builds the query index and answers one query; with
    ``tile_to`` the loaded rows are first tiled up to that many."""
    out = in_fresh_process(RSS_SCRIPT, str(cache_dir), str(tile_to), *map(str, sources)).split()
    return int(out[0]), int(out[1]) / 1024  # VmHWM is in KiB


def tree_for(args, work: Path) -> Path:
    """``args.tree``, or a tree of ``args.size`` (:data:`SIZES`) generated in ``work``."""
    if args.tree:
        return Path(args.tree)
    tree = work / "_cache"
    t0 = time.perf_counter()
    totals = generate(tree, **SIZES[args.size])
    print(f"generated {totals['pages']:,} pages, {totals['specs']:,} spec rows in {time.perf_counter() - t0:.1f} s", flush=True)
    return tree


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--tree", help="use this existing tree instead of generating one")
    parser.add_argument("--baseline-pages", type=int, default=1500, help="pages timed for the naive baseline")
    parser.add_argument("--keep", action="store_true", help="keep the generated tree")
    parser.add_argument("--no-browser", action="store_true", help="skip the end-to-end browser figures (benchmarks.browser)")
    parser.add_argument("--picks", type=int, default=30, help="selector picks timed in the browser")
    parser.add_argument("--sessions", type=int, default=20, help="browser sessions open at once")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="scd-bench-"))
    report: list[tuple[str, str, str]] = []

    def line(metric, value, target=""):
        report.append((metric, value, target))
        print(f"  {metric}: {value}", flush=True)

    try:
        tree = tree_for(args, work)
        paths = find_pages(tree)
        sample = random.Random(1).sample(paths, min(args.baseline_pages, len(paths)))
        cpus = os.cpu_count()
        print(f"machine: {cpus} cores; pages: {len(paths):,}", flush=True)

        os.sync()  # a freshly written tree's write-back would slow down whatever runs first
        # the three loaders run in turn, 3 rounds: each round's ratios compare runs made
        # minutes apart at most, on a shared machine whose speed drifts
        colds, naives, limits = [], [], []
        for _ in range(3):
            t, data = timed(lambda: load(tree, cache=False), repeat=1)
            colds.append(t)
            t, naive = timed(lambda: naive_load(sample), repeat=1)
            naives.append(t)
            limits.append(timed(lambda: json_limit(paths), repeat=1)[0])
        n_pages, n_rows = len(paths), len(data.specs)
        t_cold, t_naive, t_limit = (statistics.median(ts) for ts in (colds, naives, limits))
        ours_ps, naive_ps, limit_ps = n_pages / t_cold, len(sample) / t_naive, n_pages / t_limit
        vs_naive = statistics.median((n_pages / c) / (len(sample) / n) for c, n in zip(colds, naives))
        vs_limit = statistics.median(lim / c for c, lim in zip(colds, limits))
        line("rows loaded", f"{n_rows:,} spec rows, {n_pages:,} pages")
        line("cold load (this loader, no cache; median of 3)", f"{t_cold:.2f} s = {ours_ps:,.0f} pages/s, {n_rows / t_cold:,.0f} rows/s")
        line("naive baseline (PyYAML CSafeLoader)", f"{naive_ps:,.0f} pages/s, {len(naive) / t_naive:,.0f} rows/s ({len(sample):,} pages)")
        line("json.loads limit", f"{limit_ps:,.0f} pages/s, {n_rows / t_limit:,.0f} rows/s")
        line("ratio vs naive (median of 3 rounds)", f"{vs_naive:.1f}x", ">= 25x")
        line("ratio vs json.loads limit (median of 3 rounds)", f"{vs_limit:.2f}x", ">= 0.5x")

        # Cache figures come from fresh processes, as a user's (re)start of the
        # dashboard: a process already holding millions of rows loads slower.
        cache_dir = work / "cache"
        t_first = fresh_load(tree, cache_dir)["seconds"]
        # one settling load: folders written in the last 2 s (the generator's last
        # tags) are listed, not trusted, until they are older; real trees are old
        fresh_load(tree, cache_dir)
        warm = [fresh_load(tree, cache_dir) for _ in range(3)]
        assert all(w["status"].startswith("warm") for w in warm), warm
        line("first load writing the store", f"{t_first:.2f} s")
        line(
            "warm reload from cache (change check included)",
            f"{statistics.median(w['seconds'] for w in warm):.2f} s for {warm[0]['rows']:,} rows",
            "< 1 s at 2M rows (start-up not included)",
        )
        # each touched reload is paired with a cold load right after it, so that both
        # see the same (shared, noisy) machine: the ratio is the median of the pairs
        t_touch, ratios = [], []
        for run in range(3):  # a new 1% each time: each reload appends a cache segment
            touched = random.Random(2 + run).sample(paths, max(1, len(paths) // 100))
            for p in touched:
                st = os.stat(p)
                os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
            os.sync()  # the touching's own disk writes are not the loader's time
            reload = fresh_load(tree, cache_dir)
            t_touch.append(reload["seconds"])
            ratios.append(reload["seconds"] / fresh_load(tree, None)["seconds"])
        runs = ", ".join(f"{t:.2f} s = {100 * r:.1f}%" for t, r in zip(t_touch, ratios))
        line(
            "reload after touching 1% of pages (median of 3)",
            f"{statistics.median(t_touch):.2f} s = {100 * statistics.median(ratios):.1f}% of a cold load "
            f"(each reload / a cold load right after it, both in fresh processes: {runs}; {reload['status']})",
            "< 10% at full size",
        )

        for rows in (1_000_000, 2_000_000):
            tags = tags_for(data, rows)
            if tags is None:
                big, how = tile(data, rows), " (tiled)"
            else:
                big, how = (data, "") if len(tags) == data.specs["tag"].nunique() else (take_tags(data, tags), f" ({len(tags)} tags)")
            lat = query_latency(big)
            target = "median < 100 ms, p95 < 250 ms" if rows == 1_000_000 else ""
            line(f"selector change at {len(big.specs) / 1e6:.2f}M rows{how}", f"median {lat['median_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms", target)
            del big
        tags = tags_for(data, 1_000_000)
        if tags is None:
            held, rss = peak_rss([tree], cache_dir, tile_to=1_000_000)
            line("peak RSS, fresh process, 1M rows (tiled)", f"{rss:,.0f} MB ({held:,} rows)", "< 600 MB")
        else:
            sub_cache = work / "cache-1m"
            held, rss_cold = peak_rss([tree / t for t in tags], sub_cache)
            held, rss = peak_rss([tree / t for t in tags], sub_cache)
            line(f"peak RSS, fresh process, {held / 1e6:.2f}M rows ({len(tags)} tags) from the cache", f"{rss:,.0f} MB", "< 600 MB")
            line("peak RSS, same, first load parsing the pages", f"{rss_cold:,.0f} MB")
        if n_rows >= 1_500_000:
            held, rss = peak_rss([tree], cache_dir)
            line("peak RSS, full tree from the cache", f"{rss:,.0f} MB ({held:,} rows)")

        if not args.no_browser:
            from benchmarks.browser import measure, report_lines

            figures = measure(tree, work / "browser-store", picks=args.picks, sessions=args.sessions)
            for metric, value, target in report_lines(figures):
                line(metric, value, target)

        print("\n| metric | measured | target |\n|---|---|---|")
        for metric, value, target in report:
            print(f"| {metric} | {value} | {target} |")
    finally:
        if args.keep and not args.tree:
            print(f"tree kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
