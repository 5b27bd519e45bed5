"""End-to-end benchmark of the served app in headless Chromium.

    python -m benchmarks.browser --data TREE [--picks 30] [--sessions 20]

(also run at the end of ``python -m benchmarks.run``).  One server process
(``spack-cache-dashboard serve``) on the tree, its store warmed first.  Measures:

* first render: navigation -> numbers, heatmap and table shown, data already
  loaded in the server (median of 3 fresh pages);
* selector picks: click an option -> headline numbers, table row count and the
  package x stack heatmap all show the new selection (``--picks`` random picks
  from the options offered; median and p95);
* ``--sessions`` pages open at once: each makes one pick while all are open
  (worst and median latency), the server's RSS with all open; then every page
  is closed and the server's CPU and RSS are sampled for up to 60 s until it is
  idle (CPU < 5% of a core over 5 s); finally one SIGTERM must stop it.

Expected values come from :mod:`dashboard.query` on the same tree, so a pick is
timed until the browser shows the right numbers, not just any change.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import CHROMIUM, CHROMIUM_ARGS, free_port, number, start_server, table_rows  # noqa: E402  (shared with the browser tests)

from dashboard import query  # noqa: E402
from dashboard.config import STORE_ENV  # noqa: E402
from dashboard.load import load  # noqa: E402
from dashboard.terms import DIMENSIONS  # noqa: E402

TOP_N = 30  # the app's default


def _clock_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")


def _pick(pg, dim: str, value: str, result: "query.Result", timeout_s: float = 60) -> float:
    """Open ``dim``'s dropdown, then time (seconds) from the click on ``value`` until
    the page shows ``result`` (the dropdown's opening is not the app's time)."""
    box = pg.locator("input.choices__input--cloned").nth(list(DIMENSIONS).index(dim))
    box.click()
    option = pg.locator(".choices__list--dropdown .choices__item--choice", has_text=re.compile(rf"^{re.escape(value)} \(")).first
    option.wait_for()
    t0 = time.perf_counter()
    option.click()
    _wait_ready(pg, result, timeout_s)
    elapsed = time.perf_counter() - t0
    pg.keyboard.press("Escape")
    return elapsed


#: Packages drawn on the package x stack heatmap (its y factors), from the live Bokeh view.
HEATMAP_ROWS_JS = """() => {
  const views = Array.from(Bokeh.index.query(v => v.model.type === "Figure" && v.model.title
    && v.model.title.text.startsWith("Specs per package and stack") && v.model.inner_height > 0));
  return views.length ? views[0].model.y_range.factors.length : -1;
}"""


def _wait_ready(pg, result: "query.Result", timeout_s: float = 60) -> None:
    """Poll (every ~10 ms) until the page shows ``result``: the row count and the Specs
    number, and the package x stack heatmap with its packages (the heatmap is drawn
    last).  Panel renders into shadow roots: Playwright's locators reach them."""
    specs = result.numbers["specs"]
    rows = result.package_stack["package"].nunique() or 1  # an empty plot keeps one placeholder factor
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if table_rows(pg) == specs and number(pg, "Specs") == specs and pg.evaluate(HEATMAP_ROWS_JS) in (rows, 0 if specs == 0 else rows):
                return
        except Exception:  # not rendered yet
            pass
        time.sleep(0.01)
    raise TimeoutError(f"the page never showed {specs:,} specs on {rows} heatmap rows")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(tree: Path, store: Path, picks: int = 30, sessions: int = 20, seed: int = 3) -> dict:
    """Run the measurements above; returns figures in ms, MB and %."""
    from playwright.sync_api import sync_playwright

    data = load(tree, cache_dir=store)  # warms the store the server reads
    index = query.index_for(data)
    everything = query.compute(index, query.Selection(), TOP_N)
    port = free_port()
    server = start_server(str(tree), port, timeout=600, env={STORE_ENV: str(store)})
    url = f"http://127.0.0.1:{port}/"
    out: dict = {"rows": len(data.specs)}
    rnd = random.Random(seed)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            first = []
            for _ in range(3):
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                pg = ctx.new_page()
                t0 = time.perf_counter()
                pg.goto(url)
                _wait_ready(pg, everything)
                first.append(time.perf_counter() - t0)
                ctx.close()
            out["first_render_ms"] = 1000 * statistics.median(first)

            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            pg = ctx.new_page()
            pg.goto(url)
            _wait_ready(pg, everything)
            sel, latencies = query.Selection(), []
            for _ in range(picks):
                options = query.compute(index, sel, TOP_N).options
                dims = [d for d in DIMENSIONS if len(options[d])]
                dim = rnd.choice(dims)
                free = [v for v in options[dim]["value"] if v not in sel.values(dim)]
                if not free or len(sel.values(dim)) >= 2:  # start over now and then: a long walk narrows to nothing
                    pg.get_by_role("button", name="Clear all filters").first.click()
                    sel = query.Selection()
                    _wait_ready(pg, everything)
                    continue
                value = rnd.choice(free)
                sel = query.Selection(**{**{d: sel.values(d) for d in DIMENSIONS}, dim: (*sel.values(dim), value)})
                latencies.append(_pick(pg, dim, value, query.compute(index, sel, TOP_N)))
            ctx.close()
            out["pick_median_ms"] = 1000 * statistics.median(latencies)
            out["pick_p95_ms"] = 1000 * _percentile(latencies, 0.95)
            out["picks"] = len(latencies)

            contexts = []
            for _ in range(sessions):
                c = browser.new_context(viewport={"width": 1200, "height": 900})
                cp = c.new_page()
                cp.goto(url)
                contexts.append((c, cp))
            for _, cp in contexts:
                _wait_ready(cp, everything, timeout_s=300)
            out["rss_sessions_mb"] = _rss_mb(server.pid)
            tags = [str(v) for v in index.categories["tag"]]
            each = []
            for _, cp in contexts:
                tag = rnd.choice(tags)
                each.append(_pick(cp, "tag", tag, query.compute(index, query.Selection(tag=(tag,)), TOP_N), timeout_s=120))
            out["sessions"] = sessions
            out["session_pick_max_ms"] = 1000 * max(each)
            out["session_pick_median_ms"] = 1000 * statistics.median(each)
            for c, _ in contexts:
                c.close()
            browser.close()
        # after every session closed: CPU and memory must settle within a minute
        hz = os.sysconf("SC_CLK_TCK")
        t_closed, idle_after, cpu = time.monotonic(), None, None
        while time.monotonic() - t_closed < 60:
            ticks = _clock_ticks(server.pid)
            time.sleep(5)
            cpu = 100 * (_clock_ticks(server.pid) - ticks) / hz / 5
            if cpu < 5:
                idle_after = time.monotonic() - t_closed
                break
        out["idle_after_s"] = idle_after
        out["cpu_last_5s_pct"] = cpu
        out["rss_after_close_mb"] = _rss_mb(server.pid)
        t0 = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
            out["sigterm_exit_s"] = time.monotonic() - t0
        except Exception:
            out["sigterm_exit_s"] = None
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    return out


def report_lines(fig: dict) -> list[tuple[str, str, str]]:
    """(metric, measured, target) rows for :func:`measure`'s figures."""
    idle = "never within 60 s" if fig["idle_after_s"] is None else f"{fig['idle_after_s']:.0f} s"
    stop = "did not stop within 15 s" if fig["sigterm_exit_s"] is None else f"{fig['sigterm_exit_s']:.1f} s"
    rows = f"{fig['rows'] / 1e6:.2f}M rows"
    return [
        (f"browser: first full render, data loaded ({rows})", f"{fig['first_render_ms']:.0f} ms", "< 2 s"),
        (f"browser: selector pick -> numbers, heatmap, table ({fig['picks']} picks, {rows})",
         f"median {fig['pick_median_ms']:.0f} ms, p95 {fig['pick_p95_ms']:.0f} ms", "median < 250 ms, p95 < 500 ms"),
        (f"browser: {fig['sessions']} sessions open, one pick each",
         f"median {fig['session_pick_median_ms']:.0f} ms, worst {fig['session_pick_max_ms']:.0f} ms", "every pick < 1 s"),
        (f"server RSS with {fig['sessions']} sessions open", f"{fig['rss_sessions_mb']:,.0f} MB", "< 1.5 GB"),
        ("server after every session closed", f"idle (CPU < 5%) after {idle}; RSS {fig['rss_after_close_mb']:,.0f} MB", "idle and memory back within 60 s"),
        ("server stops on one SIGTERM", stop, ""),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a _cache tree")
    parser.add_argument("--store", help="store folder (default: a temporary one)")
    parser.add_argument("--picks", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args(argv)
    import tempfile

    store = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="scd-bench-store-"))
    fig = measure(Path(args.data), store, args.picks, args.sessions)
    for metric, value, target in report_lines(fig):
        print(f"  {metric}: {value}" + (f"  (target {target})" if target else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
