"""End-to-end benchmark of the served app in headless Chromium.

    python -m benchmarks.browser --data TREE [--picks 30] [--sessions 20] [--baseline SRC [--alternate]]
    python -m benchmarks.browser --data TREE --memory [--sessions 50 --rounds 10]

(also run at the end of ``python -m benchmarks.run``).  One server process
(``spack-cache-dashboard serve``) on the tree, its store warmed first.  Measures,
timed inside the page (see :data:`READY_JS`):

* first render: navigation -> numbers, heatmap, table and URL shown, data already
  loaded in the server (median of 3 fresh pages);
* selector picks: pointer press on an option -> headline numbers, table row count,
  the package x stack heatmap and the URL all show the new selection (``--picks``
  random picks from the options offered; median and p95);
* ``--sessions`` pages open at once: each makes one pick while all are open
  (worst and median latency), the server's RSS before and with all open; then every
  page is closed, the server's CPU sampled until it is idle (CPU < 5% of a core over
  5 s) and its RSS read 60 s after closing; finally one SIGTERM must stop it.

``--memory`` measures instead what the server gives back (:func:`memory_rounds`): 10
rounds of 50 sessions opened at once and closed, the server's RSS against its figure
before any session.

``--baseline SRC`` first measures the dashboard of another source tree (e.g. ``git
worktree add /tmp/base <commit>``) the same way and prints both and their ratios;
with ``--alternate`` both are served side by side and the first renders and picks are
measured in turns (:func:`alternate`), the fair comparison on a busy machine.
``SCD_BENCH_VERBOSE=1`` prints each pick's time.  Expected values come from
:mod:`dashboard.domain.query` on the same tree, so a pick is timed until the browser shows
the right numbers, not just any change.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import CHROMIUM, CHROMIUM_ARGS, free_port, number, open_option, start_server, table_rows  # noqa: E402  (shared with the browser tests)

from dashboard.domain import query  # noqa: E402
from dashboard.config import STORE_ENV  # noqa: E402
from dashboard.load import load  # noqa: E402
from dashboard.core.terms import DIMENSIONS  # noqa: E402

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


#: Installed in every page before it loads: records when the user presses a pointer
#: (``pointerdown``, capture phase) and offers ``__scdWatch(specs, heat, since, search)``,
#: which resolves with the milliseconds from that press (``since="navigation"``: from
#: navigation start) until the page's models show ``specs`` (Specs number and row
#: count, their text no longer hidden while their style sheets load) and ``heat`` package rows on the package x stack heatmap, the URL's query has
#: the pairs of ``search`` (in any order) (the server writes it with the rest of its answer, so a pick that changes
#: no number still waits for the server), and the frame after that has been drawn.
#: Checked on every animation frame among Bokeh's views: no DOM polling from outside,
#: which would itself slow the page down.
READY_JS = """
window.__scd = {down: null};
document.addEventListener("pointerdown", () => { window.__scd.down = performance.now(); }, true);
// the query's pairs in any order: a selector the browser rebuilds lists its chosen values in its options' order
window.__scdNorm = (q) => q.replace(/^\\?/, "").split("&").sort().join("&");
window.__scdWatch = (specs, heat, since, search) => new Promise((resolve) => {
  const find = () => {
    if (!window.Bokeh || !Bokeh.index) return null;
    let number = null, count = null, figure = null, shown = true;
    for (const v of Bokeh.index.query(() => true)) {
      const m = v.model, text = m.text || "";
      if (m.type === "panel.models.markup.HTML" && text.includes("&gt;Specs&lt;/div&gt;")) number = m;
      else if (m.type === "panel.models.markup.HTML" && text.includes("row-count")) count = m;
      else if (m.type === "Figure" && m.title && m.title.text && m.title.text.startsWith("Specs per package and stack") && v.model.inner_height > 0) figure = m;
      else continue;
      // a Panel HTML pane keeps its text hidden until its style sheets are in: not yet seen
      if (v.container && v.container.style && v.container.style.visibility === "hidden") shown = false;
    }
    return number && count && figure && shown ? {number, count, figure} : null;
  };
  const value = (text, after) => {
    const i = text.indexOf(after);
    if (i < 0) return NaN;
    const m = text.slice(i + after.length).match(/&gt;([\\d,]+)&lt;/);  // the text between two tags
    return m ? parseInt(m[1].replace(/,/g, ""), 10) : NaN;
  };
  const frame = () => {
    const models = find();  // each frame: a rebuilt plot is a new model
    // rows that name a package (not the empty rows below them, zero-width spaces)
    const factors = models ? models.figure.y_range.factors.filter(f => f.replace(/\u200b/g, "") !== "").length : -1;
    if (models && __scdNorm(window.location.search) === __scdNorm(search) && value(models.number.text, "Specs&lt;/div&gt;") === specs && value(models.count.text, "row-count") === specs
        && (factors === heat || (specs === 0 && factors <= 1))) {
      // drawn: the frame after this one has been painted
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - (since === "navigation" ? 0 : window.__scd.down))));
    } else {
      requestAnimationFrame(frame);
    }
  };
  frame();
});
"""


def _expect(result: "query.Result", sel: "query.Selection") -> tuple[int, int, str]:
    """(specs, heatmap rows, URL query) the page must show for ``result`` of ``sel``."""
    search = urlencode([(dim, value) for dim in DIMENSIONS for value in sel.values(dim)])
    return result.numbers["specs"], result.package_stack["package"].nunique() or 1, search


def _pick(pg, dim: str, value: str, sel: "query.Selection", result: "query.Result", count: int, timeout_s: float = 60) -> float:
    """Open ``dim``'s dropdown (typing ``value`` if the list does not show it), wait for
    ``value``'s option to show its spec count ``count`` (the counts follow each answer:
    a pick starts from a settled page), click it; seconds from the browser's pointer press
    until the page has drawn ``result`` of ``sel`` (measured in the page: see :data:`READY_JS`).
    The dropdown's opening and Playwright's own checks before it clicks are not timed."""
    option = open_option(pg, list(DIMENSIONS).index(dim), value, count=count)
    specs, rows, search = _expect(result, sel)
    pg.evaluate("([s, r, q]) => { window.__scd.down = null; window.__scdPending = __scdWatch(s, r, 'click', q); }", [specs, rows, search])
    option.click()
    elapsed = pg.evaluate(f"() => Promise.race([window.__scdPending, new Promise((_, no) => setTimeout(() => no('timeout'), {int(timeout_s * 1000)}))])")
    _check_shown(pg, result)
    pg.keyboard.press("Escape")
    return elapsed / 1000


def _check_shown(pg, result: "query.Result") -> None:
    """The page's text (not only its models) shows ``result``: the Specs number and row count."""
    specs = result.numbers["specs"]
    if table_rows(pg) != specs or number(pg, "Specs") != specs:
        raise AssertionError(f"the page does not show {specs:,} specs")


def _wait_ready(pg, result: "query.Result", sel: "query.Selection" = query.Selection(), timeout_s: float = 60, since: str = "click") -> float:
    """Wait until the page has drawn ``result`` of ``sel`` (see :data:`READY_JS`);
    milliseconds from the last pointer press (``since="navigation"``: from the
    page's navigation start)."""
    specs, rows, search = _expect(result, sel)
    elapsed = pg.evaluate(
        f"([s, r, since, q]) => Promise.race([__scdWatch(s, r, since, q), new Promise((_, no) => setTimeout(() => no('timeout'), {int(timeout_s * 1000)}))])",
        [specs, rows, since, search],
    )
    _check_shown(pg, result)
    return elapsed


def _next_pick(index: "query.SpecIndex", sel: "query.Selection", rnd: random.Random):
    """The walk's next pick from ``sel``: a random dimension and one of the values it
    offers, as ``(dim, value, new selection, the value's spec count)``; ``None``: start
    over (a dimension with two values chosen, or nothing left: a long walk narrows to
    nothing)."""
    options = query.compute(index, sel, TOP_N).options
    dim = rnd.choice([d for d in DIMENSIONS if len(options[d])])
    free = [v for v in options[dim]["value"] if v not in sel.values(dim)]
    if not free or len(sel.values(dim)) >= 2:
        return None
    value = rnd.choice(free)
    count = int(options[dim].set_index("value").loc[value, "specs"])
    return dim, value, query.Selection(**{**{d: sel.values(d) for d in DIMENSIONS}, dim: (*sel.values(dim), value)}), count


def _clear(pg, everything: "query.Result") -> None:
    """Click *Clear all filters* and wait until the page shows everything again."""
    pg.get_by_role("button", name="Clear all filters").first.click()
    _wait_ready(pg, everything)


def _first_render(browser, url: str, everything: "query.Result", then=None) -> float | tuple[float, float]:
    """Milliseconds from navigation until a fresh page (its own context: nothing cached)
    at ``url`` has drawn ``everything``.  ``then``: ``(index, tag)``, pick that tag on
    the page once drawn (the first pick after a page loads, as each of 20 open sessions
    makes) and return ``(first render ms, first pick ms)``."""
    ctx = _context(browser, 1400, 1000)
    pg = ctx.new_page()
    pg.goto(url)
    elapsed = _wait_ready(pg, everything, since="navigation")
    if then is not None:
        index, tag = then
        one = query.Selection(tag=(tag,))
        count = int(everything.options["tag"].set_index("value").loc[tag, "specs"])
        elapsed = (elapsed, 1000 * _pick(pg, "tag", tag, one, query.compute(index, one, TOP_N), count))
    ctx.close()
    return elapsed


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _context(browser, width: int, height: int):
    """A browser context whose pages carry :data:`READY_JS`."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    ctx.add_init_script(READY_JS)
    return ctx


def measure(tree: Path, store: Path, picks: int = 30, sessions: int = 20, seed: int = 3, source: Path | None = None) -> dict:
    """Run the measurements above; returns figures in ms, MB and %.  ``source``: serve
    the dashboard package of that source tree (another version, e.g. a ``git worktree``
    of an older commit) instead of the installed one; it keeps its store in
    ``store/baseline``."""
    from playwright.sync_api import sync_playwright

    data = load(tree, cache_dir=store)  # warms the store the server reads
    index = query.index_for(data)
    everything = query.compute(index, query.Selection(), TOP_N)
    port = free_port()
    env = {STORE_ENV: str(store)}
    if source is not None:  # run there: `python -m` imports its package first; its own store (formats may differ)
        env = {STORE_ENV: str(store / "baseline")}
    server = start_server(str(tree), port, timeout=900, env=env, cwd=str(source) if source is not None else None)
    url = f"http://127.0.0.1:{port}/"
    out: dict = {"rows": len(data.specs)}
    rnd = random.Random(seed)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            out["first_render_ms"] = statistics.median(_first_render(browser, url, everything) for _ in range(3))

            ctx = _context(browser, 1400, 1000)
            pg = ctx.new_page()
            pg.goto(url)
            _wait_ready(pg, everything)
            sel, latencies = query.Selection(), []
            for _ in range(picks):
                step = _next_pick(index, sel, rnd)
                if step is None:
                    _clear(pg, everything)
                    sel = query.Selection()
                    continue
                dim, value, sel, count = step
                latencies.append(_pick(pg, dim, value, sel, query.compute(index, sel, TOP_N), count))
                if os.environ.get("SCD_BENCH_VERBOSE"):
                    print(f"    pick {dim}={value}: {1000 * latencies[-1]:.0f} ms", flush=True)
            ctx.close()
            out["pick_median_ms"] = 1000 * statistics.median(latencies)
            out["pick_p95_ms"] = 1000 * _percentile(latencies, 0.95)
            out["picks"] = len(latencies)

            out["rss_before_sessions_mb"] = _rss_mb(server.pid)
            contexts = []
            for _ in range(sessions):
                c = _context(browser, 1200, 900)
                cp = c.new_page()
                cp.goto(url)
                contexts.append((c, cp))
            for _, cp in contexts:
                _wait_ready(cp, everything, timeout_s=300, since="navigation")
            out["rss_sessions_mb"] = _rss_mb(server.pid)
            tags = [str(v) for v in index.categories["tag"]]
            each = []
            for _, cp in contexts:
                tag = rnd.choice(tags)
                one = query.Selection(tag=(tag,))
                count = int(everything.options["tag"].set_index("value").loc[tag, "specs"])
                each.append(_pick(cp, "tag", tag, one, query.compute(index, one, TOP_N), count, timeout_s=120))
            out["sessions"] = sessions
            out["session_pick_max_ms"] = 1000 * max(each)
            out["session_pick_median_ms"] = 1000 * statistics.median(each)
            for c, _ in contexts:
                c.close()
            browser.close()
        # after every session closed: CPU and memory must settle within a minute (Bokeh
        # drops a closed session's document after its unused-session lifetime, 15 s)
        hz = os.sysconf("SC_CLK_TCK")
        t_closed, idle_after, cpu = time.monotonic(), None, None
        while time.monotonic() - t_closed < 60:
            ticks = _clock_ticks(server.pid)
            time.sleep(5)
            cpu = 100 * (_clock_ticks(server.pid) - ticks) / hz / 5
            if cpu < 5 and idle_after is None:
                idle_after = time.monotonic() - t_closed
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


def alternate(tree: Path, store: Path, source: Path, picks: int = 30, pages: int = 12, seed: int = 3) -> dict:
    """This version and the dashboard of ``source`` served side by side, measured in
    turns: ``pages`` fresh first renders each (each followed by one tag picked on that
    page: the first pick after a page loads), then ``picks`` picks of one walk, each made
    on both (which one goes first alternates).  On a shared machine whose speed drifts
    within minutes, turns keep the comparison fair where two measurements one after the
    other do not.  Returns ``{figure: (this, baseline)}`` for first render (median), the
    first pick on a fresh page (median, worst) and pick median and p95, in ms."""
    from playwright.sync_api import sync_playwright

    data = load(tree, cache_dir=store)
    index = query.index_for(data)
    everything = query.compute(index, query.Selection(), TOP_N)
    ports = {"this": free_port(), "base": free_port()}
    servers = {
        "this": start_server(str(tree), ports["this"], timeout=900, env={STORE_ENV: str(store)}),
        "base": start_server(str(tree), ports["base"], timeout=900, env={STORE_ENV: str(store / "baseline")}, cwd=str(source)),
    }
    first: dict = {"this": [], "base": []}
    first_pick: dict = {"this": [], "base": []}
    taken: dict = {"this": [], "base": []}
    rnd = random.Random(seed)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            tags = [str(v) for v in index.categories["tag"]]
            for i in range(pages):
                tag = rnd.choice(tags)
                for who in ("this", "base") if i % 2 == 0 else ("base", "this"):
                    drawn, picked = _first_render(browser, f"http://127.0.0.1:{ports[who]}/", everything, then=(index, tag))
                    first[who].append(drawn)
                    first_pick[who].append(picked)
            tabs = {}
            for who, port in ports.items():
                tabs[who] = _context(browser, 1400, 1000).new_page()
                tabs[who].goto(f"http://127.0.0.1:{port}/")
                _wait_ready(tabs[who], everything)
            sel, done = query.Selection(), 0
            while done < picks:
                step = _next_pick(index, sel, rnd)
                if step is None:
                    for pg in tabs.values():
                        _clear(pg, everything)
                    sel = query.Selection()
                    continue
                dim, value, sel, count = step
                result = query.compute(index, sel, TOP_N)
                for who in ("this", "base") if done % 2 == 0 else ("base", "this"):
                    taken[who].append(1000 * _pick(tabs[who], dim, value, sel, result, count))
                done += 1
            browser.close()
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=15)
    return {
        "first render (median)": tuple(statistics.median(first[w]) for w in ("this", "base")),
        "first pick on a fresh page (median)": tuple(statistics.median(first_pick[w]) for w in ("this", "base")),
        "first pick on a fresh page (worst)": tuple(max(first_pick[w]) for w in ("this", "base")),
        "pick median": tuple(statistics.median(taken[w]) for w in ("this", "base")),
        "pick p95": tuple(_percentile(taken[w], 0.95) for w in ("this", "base")),
    }


def _settle(pid: int, target_mb: float, within_s: float = 60) -> tuple[float | None, float]:
    """Poll ``pid``'s RSS every second for up to ``within_s`` seconds after the sessions
    closed: ``(seconds until it was at most target_mb or None, RSS at the end in MB)``.
    Stops early once it has been under the target for 5 s in a row."""
    t0, reached, under_since = time.monotonic(), None, None
    rss = _rss_mb(pid)
    while time.monotonic() - t0 < within_s:
        rss = _rss_mb(pid)
        if rss <= target_mb:
            reached = reached if reached is not None else time.monotonic() - t0
            under_since = under_since or time.monotonic()
            if time.monotonic() - under_since >= 5:
                break
        else:
            under_since = None
        time.sleep(1)
    return reached, rss


def memory_rounds(tree: Path, store: Path, sessions: int = 50, rounds: int = 10, source: Path | None = None) -> dict:
    """Memory a server gives back: ``rounds`` times, ``sessions`` pages are opened at
    once, each drawn in full, then all closed; after each round the server's RSS is
    followed for 60 s (:func:`_settle`).  The reference is the server's RSS once it
    has loaded the data and answered, before any session.  Returns
    ``{"rss_start_mb", "rounds": [{"open_mb", "after_mb", "back_s"}]}`` (``back_s``:
    seconds until RSS was within 5% of the start, ``None`` if not within 60 s)."""
    from playwright.sync_api import sync_playwright

    data = load(tree, cache_dir=store)
    everything = query.compute(query.index_for(data), query.Selection(), TOP_N)
    del data
    port = free_port()
    env = {STORE_ENV: str(store if source is None else store / "baseline")}
    server = start_server(str(tree), port, timeout=900, env=env, cwd=str(source) if source is not None else None)
    url = f"http://127.0.0.1:{port}/"
    out: dict = {"rounds": []}
    try:
        time.sleep(2)  # the start-up's own allocations settle (the server answers HTTP as soon as it listens)
        out["rss_start_mb"] = start = _rss_mb(server.pid)
        if os.environ.get("SCD_BENCH_VERBOSE"):
            print(f"    server RSS before any session: {start:,.0f} MB", flush=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(rounds):
                contexts = []
                for _ in range(sessions):
                    c = _context(browser, 1200, 900)
                    cp = c.new_page()
                    cp.goto(url)
                    contexts.append(c)
                    if len(contexts) % 10 == 0:  # at most ~10 pages loading at once in one browser on 2 cores
                        for c10 in contexts[-10:]:
                            _wait_ready(c10.pages[0], everything, timeout_s=600, since="navigation")
                for c in contexts:
                    _wait_ready(c.pages[0], everything, timeout_s=600, since="navigation")
                open_mb = _rss_mb(server.pid)
                for c in contexts:
                    c.close()
                back_s, after_mb = _settle(server.pid, 1.05 * start)
                out["rounds"].append({"open_mb": open_mb, "after_mb": after_mb, "back_s": back_s})
                if os.environ.get("SCD_BENCH_VERBOSE"):
                    print(f"    round {len(out['rounds'])}: {open_mb:,.0f} MB open, {after_mb:,.0f} MB after, back in {back_s} s", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
    return out


def memory_lines(mem: dict, sessions: int) -> list[tuple[str, str, str]]:
    """(metric, measured, target) rows for :func:`memory_rounds`'s figures."""
    rounds = mem["rounds"]
    back = [r["back_s"] for r in rounds]
    after = [r["after_mb"] for r in rounds]
    return [
        ("server RSS, data loaded, before any session", f"{mem['rss_start_mb']:,.0f} MB", ""),
        (f"{len(rounds)} rounds of {sessions} sessions: RSS with them open", ", ".join(f"{r['open_mb']:,.0f}" for r in rounds) + " MB", ""),
        ("RSS after each round closed (at most 60 s)", ", ".join(f"{a:,.0f}" for a in after) + " MB"
         + f" = {max(after) / mem['rss_start_mb']:.3f}x the start at most", "<= 1.05x"),
        ("seconds until within 5% of the start", ", ".join("never" if b is None else f"{b:.0f}" for b in back), "<= 60 s, every round"),
        ("growth from the first round to the last", f"{after[-1] - after[0]:+,.0f} MB", "none"),
    ]


def report_lines(fig: dict) -> list[tuple[str, str, str]]:
    """(metric, measured, target) rows for :func:`measure`'s figures."""
    idle = "never within 60 s" if fig["idle_after_s"] is None else f"{fig['idle_after_s']:.0f} s"
    stop = "did not stop within 15 s" if fig["sigterm_exit_s"] is None else f"{fig['sigterm_exit_s']:.1f} s"
    rows = f"{fig['rows'] / 1e6:.2f}M rows"
    return [
        (f"browser: first full render, data loaded ({rows})", f"{fig['first_render_ms']:.0f} ms", "< 1.2 s"),
        (f"browser: selector pick -> numbers, heatmap, table ({fig['picks']} picks, {rows})",
         f"median {fig['pick_median_ms']:.0f} ms, p95 {fig['pick_p95_ms']:.0f} ms", "median < 150 ms, p95 < 300 ms"),
        (f"browser: {fig['sessions']} sessions open, one pick each",
         f"median {fig['session_pick_median_ms']:.0f} ms, worst {fig['session_pick_max_ms']:.0f} ms", "worst < 500 ms"),
        (f"server RSS before / with {fig['sessions']} sessions open", f"{fig['rss_before_sessions_mb']:,.0f} / {fig['rss_sessions_mb']:,.0f} MB", "< 1.5 GB"),
        ("server after every session closed", f"idle (CPU < 5%) after {idle}; RSS 60 s after {fig['rss_after_close_mb']:,.0f} MB", "idle and memory back within 60 s"),
        ("server stops on one SIGTERM", stop, ""),
    ]


#: Figures compared with the baseline: (key, what), lower is better for each.
COMPARED = (
    ("first_render_ms", "first render"), ("pick_median_ms", "pick median"), ("pick_p95_ms", "pick p95"),
    ("session_pick_median_ms", "20 sessions, pick median"), ("session_pick_max_ms", "20 sessions, worst pick"),
    ("rss_sessions_mb", "RSS, sessions open"), ("rss_after_close_mb", "RSS 60 s after closing"),
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a _cache tree")
    parser.add_argument("--store", help="store folder (default: a temporary one)")
    parser.add_argument("--picks", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--baseline", metavar="SRC", help="also measure the dashboard of this source tree first "
                        "(e.g. `git worktree add /tmp/base <commit>`), then print both and their ratios")
    parser.add_argument("--alternate", action="store_true", help="with --baseline: serve both side by side and measure "
                        "first renders and picks in turns (fair on a machine whose speed drifts) instead of one after the other")
    parser.add_argument("--memory", action="store_true", help="instead: the memory given back after --rounds rounds of "
                        "--sessions sessions opened and closed (default 10 rounds of 50)")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    import tempfile

    store = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="scd-bench-store-"))
    if args.memory:
        sessions = args.sessions if "--sessions" in (argv or sys.argv) else 50
        for metric, value, target in memory_lines(memory_rounds(Path(args.data), store, sessions, args.rounds), sessions):
            print(f"  {metric}: {value}" + (f"  (target {target})" if target else ""))
        return 0
    if args.alternate:
        if not args.baseline:
            parser.error("--alternate needs --baseline")
        figures = alternate(Path(args.data), store, Path(args.baseline), args.picks)
        print(f"  in turns with the baseline {args.baseline} ({args.picks} picks, 12 first renders each):")
        for what, (this, base) in figures.items():
            print(f"    {what}: this version {this:.0f} ms, baseline {base:.0f} ms, ratio {this / base:.2f}x")
        return 0
    base = measure(Path(args.data), store, args.picks, args.sessions, source=Path(args.baseline)) if args.baseline else None
    fig = measure(Path(args.data), store, args.picks, args.sessions)
    for metric, value, target in report_lines(fig):
        print(f"  {metric}: {value}" + (f"  (target {target})" if target else ""))
    if base is not None:
        print(f"  baseline {args.baseline}, measured just before in the same run:")
        for metric, value, _ in report_lines(base):
            print(f"    {metric}: {value}")
        print("  this version / baseline: " + ", ".join(f"{what} {fig[key] / base[key]:.2f}x" for key, what in COMPARED if base.get(key)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
