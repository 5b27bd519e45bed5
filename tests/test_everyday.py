"""Walls a newcomer hit, walked in Chromium: the wheel over a plot scrolls the page, the
keyboard reaches and switches the view tabs, the spec table's tags, packages and
versions are never cut at 1400 or 900 px, sizes read in KiB/MiB/GiB with the exact
bytes on hover, a single tag in *What changed?* says there is nothing to compare, and
the theme link switches to the dark theme keeping the selection."""

from __future__ import annotations

import contextlib

import pytest

from conftest import REAL_PAGES, ROOT, STORE_ENV
from support import PATIENCE_MS, free_port, start_server, wait_value

SPACK = ROOT / "assets" / "mirrors" / "spack-1.2" / "spack-1.2-v3-unsigned"

#: Sum of the scroll offsets of the window and every element (the template scrolls its main column).
SCROLLED = "() => { let t = window.scrollY; document.querySelectorAll('*').forEach(e => { t += e.scrollTop || 0; }); return t; }"
#: The element that has the keyboard focus, through shadow roots: ``tag.class text``.
FOCUSED = """() => { let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
                     return a ? a.tagName + ' ' + a.className + ' ' + (a.textContent || '').trim().slice(0, 40) : ''; }"""
#: Spec table cells of tag, package and version whose text does not fit (cut).
CUT_CELLS = """() => { const out = []; const walk = (root) => { root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); });
  root.querySelectorAll(".tabulator-cell[tabulator-field='tag'], .tabulator-cell[tabulator-field='package'], .tabulator-cell[tabulator-field='version']")
      .forEach(c => { if (c.scrollWidth > c.clientWidth + 1) out.push(c.textContent); }); }; walk(document); return out; }"""


def _page(browser, width=1400):
    ctx = browser.new_context(viewport={"width": width, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    return ctx, pg


@contextlib.contextmanager
def _served_with_sizes(tmp_path, browser, data, path: str = "/"):
    """The app served on ``data`` with ``--sizes`` (own store under ``tmp_path``), and a
    page opened at ``path`` once the table is drawn: yields the page; closes both."""
    port = free_port()
    proc = start_server(str(data), port, env={STORE_ENV: str(tmp_path / "store")}, extra_args=["--sizes"])
    ctx, pg = _page(browser)
    try:
        pg.goto(f"http://127.0.0.1:{port}{path}", timeout=PATIENCE_MS)
        pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
        yield pg
    finally:
        ctx.close()
        proc.terminate()
        proc.wait(timeout=30)


def test_the_wheel_over_a_heatmap_scrolls_the_page(server, browser, artifacts):
    ctx, pg = _page(browser)
    pg.goto(server, timeout=PATIENCE_MS)
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    canvas = pg.locator("canvas").first
    box = canvas.bounding_box()
    ranges = """() => Bokeh.documents.flatMap(d => Array.from(d.all_models)).filter(m => m.type === 'FactorRange' || m.constructor.name === 'FactorRange')
                      .map(r => [r.start, r.end])"""
    before = pg.evaluate(ranges)
    assert before
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 3)
    pg.mouse.wheel(0, 300)
    wait_value(pg, lambda p: p.evaluate(SCROLLED) > 0, True)
    pg.mouse.wheel(0, -10_000)
    wait_value(pg, lambda p: p.evaluate(SCROLLED), 0)
    assert pg.evaluate(ranges) == before  # the plot did not zoom
    pg.screenshot(path=str(artifacts / "everyday-wheel.png"))
    assert not pg.errors, pg.errors
    ctx.close()


def test_the_keyboard_reaches_and_switches_the_view_tabs(server, browser, artifacts):
    ctx, pg = _page(browser)
    pg.goto(server, timeout=PATIENCE_MS)
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    tabs = pg.get_by_role("tab")
    wait_value(pg, lambda p: p.get_by_role("tab").count(), 6)
    assert tabs.all_inner_texts() == ["Overview", "Runs here?", "What changed?", "Why rebuilt?", "Storage", "Find my spec"]
    pg.get_by_role("button", name="This machine").focus()  # the sidebar's last control
    pg.keyboard.press("Tab")
    assert "Overview" in pg.evaluate(FOCUSED)  # the views come next, before their content
    pg.keyboard.press("ArrowRight")
    pg.get_by_text("Will it run here?").wait_for(timeout=PATIENCE_MS)
    wait_value(pg, lambda p: p.get_by_role("tab", selected=True).all_inner_texts(), ["Runs here?"])
    pg.keyboard.press("End")
    wait_value(pg, lambda p: p.get_by_role("tab", selected=True).all_inner_texts(), ["Find my spec"])
    pg.keyboard.press("Home")
    wait_value(pg, lambda p: p.get_by_role("tab", selected=True).all_inner_texts(), ["Overview"])
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)  # the overview drawn again
    assert "Overview" in pg.evaluate(FOCUSED)  # the focus stays on the chosen tab
    pg.screenshot(path=str(artifacts / "everyday-keyboard.png"))
    assert not pg.errors, pg.errors
    ctx.close()


@pytest.mark.parametrize("width", [1400, 900])
def test_no_tag_package_or_version_is_cut_in_the_spec_table(server, browser, artifacts, width):
    ctx, pg = _page(browser, width)
    pg.goto(server, timeout=PATIENCE_MS)
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    tags = pg.locator(".tabulator-cell[tabulator-field='tag']").all_inner_texts()
    assert len(tags) >= 10 and all(t.replace("\n", "") in {p.parent.parent.name for p in REAL_PAGES.rglob("specs.md")} for t in tags)
    assert pg.evaluate(CUT_CELLS) == []
    pg.locator(".spec-table").first.screenshot(path=str(artifacts / f"everyday-table-{width}.png"))
    assert not pg.errors, pg.errors
    ctx.close()


#: The spec table's shown columns left to right, and how far its rows scroll sideways (px).
TABLE_FIT_JS = """() => { let out = null; const walk = (root) => root.querySelectorAll('*').forEach(e => {
    if (e.classList.contains('spec-table') && e.shadowRoot) {
      const holder = e.shadowRoot.querySelector('.tabulator-tableholder');
      const fields = [...e.shadowRoot.querySelectorAll('.tabulator-col')].filter(c => c.offsetWidth > 0 && c.getAttribute('tabulator-field'))
        .map(c => c.getAttribute('tabulator-field'));
      out = holder ? [fields, holder.scrollWidth - holder.clientWidth] : null;
    } else if (e.shadowRoot) walk(e.shadowRoot); });
  walk(document); return out; }"""


def test_every_spec_table_column_in_view_at_1400_px(server, browser, artifacts):
    """At 1400 px the spec table shows every column without scrolling sideways (the tag
    column last), and leaves out the columns that would be all dashes: the real pages
    write ``size: "-"`` for every binary (read by PyYAML) and name no dependencies."""
    import yaml

    from dashboard.domain.query import TABLE_COLUMNS

    sizes = {str(record.get("size")) for page in REAL_PAGES.rglob("specs.md")
             for record in yaml.safe_load(page.read_text().split("---")[1])["spec_details"]}
    assert sizes == {"-"}  # the premise: no page of the embedded data knows a size
    ctx, pg = _page(browser, 1400)
    pg.goto(server, timeout=PATIENCE_MS)
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    expected = [c for c in TABLE_COLUMNS if c not in ("size", "n_deps")]
    wait_value(pg, lambda p: p.evaluate(TABLE_FIT_JS), [expected, 0])
    pg.locator(".spec-table").first.screenshot(path=str(artifacts / "everyday-table-fits-1400.png"))
    assert not pg.errors, pg.errors
    ctx.close()


def test_sizes_in_iec_units_one_tag_and_the_theme_link(tmp_path, browser, artifacts):
    """A mirror served with ``--sizes``: the size column reads KiB with the exact bytes
    on hover, and the headline's size line sums the selection; the mirror is one tag,
    so *What changed?* says there is nothing to compare; the theme link keeps the
    selection."""
    from dashboard.core.terms import human_bytes
    from dashboard.load import load

    truth = load(SPACK, cache=False, sizes=True).specs
    with _served_with_sizes(tmp_path, browser, SPACK, "/?package=ptool") as pg:
        ptool = truth[truth["package"] == "ptool"]
        line = pg.locator(".size-line").first
        wait_value(pg, lambda p: " ".join(line.locator("div").last.inner_text().split()),
                   f"Size {human_bytes(int(ptool['size'].sum()))} in {len(ptool)} binaries")
        cells = pg.locator(".tabulator-cell[tabulator-field='size'] span")
        hashes = pg.locator(".tabulator-cell[tabulator-field='hash']").all_inner_texts()
        for cell, h in zip(cells.all(), hashes):
            size = int(truth.set_index("hash").loc[h.strip(), "size"])
            assert cell.inner_text() == human_bytes(size) and cell.get_attribute("title") == f"{size:,} bytes"
        pg.get_by_role("tab", name="What changed?").click()
        pg.get_by_text("Only one tag is loaded").wait_for(timeout=PATIENCE_MS)
        wait_value(pg, lambda p: p.locator(".tag-a").first.is_visible(), False)  # no list of one tag to pick from
        pg.screenshot(path=str(artifacts / "everyday-one-tag.png"))
        pg.locator("a.theme-switch").click()
        pg.wait_for_url("**theme=dark**", timeout=PATIENCE_MS)
        assert "package=ptool" in pg.url and "view=compare" in pg.url  # the selection and the view kept
        pg.get_by_text("Only one tag is loaded").wait_for(timeout=PATIENCE_MS)
        pg.locator("a.theme-switch", has_text="Light theme").wait_for(timeout=PATIENCE_MS)
        pg.screenshot(path=str(artifacts / "everyday-dark.png"))
        assert not pg.errors, pg.errors


def test_the_tables_header_filters_are_the_selection(server, browser, reference, artifacts, tmp_path):
    """Typing in a header filter narrows the headline and the URL as the table (pandas'
    str.contains over PyYAML's reading is the oracle); *Clear table filters* empties the
    header input; the URL brings the filter back."""
    import pandas as pd
    from support import number, wait_number
    from test_walk import READ_EXPORT_JS

    specs = reference.drop_duplicates(["tag", "hash"])
    want = specs[specs["package"].str.contains("py-", case=False, regex=False)]
    ctx, pg = _page(browser)
    pg.goto(server, timeout=PATIENCE_MS)
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    box = pg.locator(".spec-table .tabulator-col[tabulator-field='package'] .tabulator-header-filter input").first
    box.press_sequentially("py-")  # keys, as a user types (Tabulator filters on keyup)
    wait_number(pg, "Specs", len(want))
    assert number(pg, "Packages") == want["package"].nunique()
    wait_value(pg, lambda p: "filter.package=py-" in p.url, True)
    note = pg.locator(".filter-note").first
    wait_value(pg, lambda p: " ".join(note.locator("div").last.inner_text().split()), "Table filters: package contains py-")
    pg.screenshot(path=str(artifacts / "everyday-header-filter.png"))
    # the CSV and the export hold the filtered specs (read back by pandas and by the export's own models)
    with pg.expect_download() as dl:
        pg.get_by_role("button", name="Download CSV (filtered rows)").click()
    csv = pd.read_csv(dl.value.path())
    with pg.expect_download() as dl:
        pg.get_by_role("button", name="Export HTML (current selection)").click()
    exported = tmp_path / "filtered.html"
    dl.value.save_as(exported)
    assert sorted(csv["hash"]) == sorted(want["hash"])
    view = ctx.new_page()
    view.goto(exported.as_uri())
    view.wait_for_function("() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].get_model_by_name('numbers').tags.length", timeout=PATIENCE_MS)
    assert sorted(view.evaluate(READ_EXPORT_JS)["hashes"]) == sorted(want["hash"])
    view.close()
    pg.get_by_role("button", name="Clear table filters").click()
    wait_number(pg, "Specs", len(specs))
    wait_value(pg, lambda p: p.locator(".spec-table .tabulator-col[tabulator-field='package'] .tabulator-header-filter input").first.input_value(), "")
    assert "filter." not in pg.url
    pg.goto(server + "?filter.hash=A&filter.nope=x", timeout=PATIENCE_MS)
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    wait_number(pg, "Specs", int(specs["hash"].str.contains("a", case=False).sum()))
    pg.get_by_text("Table filter 'nope' from the URL is not a text column").first.wait_for(timeout=PATIENCE_MS)
    assert not pg.errors, pg.errors
    ctx.close()


def test_heatmap_hover_and_headline_give_sizes(tmp_path, browser, artifacts):
    """Two Spack-written mirrors loaded with --sizes: hovering each heatmap's cells names
    their size (the sum of the binaries' sizes, by pandas) and the size line names the
    size of each tag."""
    import re


    from dashboard.core.terms import human_bytes
    from dashboard.load import load
    from test_walk import CELL_JS, TIP_TEXT_JS, TITLES, VIEWS, plot

    signed = SPACK.parent / "spack-1.2-v3-signed"
    mirrors = tmp_path / "mirrors.yaml"  # as Spack writes it
    mirrors.write_text(f"mirrors:\n  unsigned: {SPACK}\n  signed: {signed}\n")
    truth = load(mirrors, cache=False, sizes=True)
    long = truth.spec_stacks.join(truth.specs, on="spec")
    with _served_with_sizes(tmp_path, browser, mirrors) as pg:
        line = pg.locator(".size-line").first.locator("div").last
        per_tag = truth.specs.groupby("tag", observed=True)["size"].sum().sort_index()
        for tag, size in per_tag.items():
            wait_value(pg, lambda p: f"{tag} {human_bytes(int(size))}" in line.inner_text(), True)
        assert "by tag" in line.inner_text()
        # mirrors name no stacks: the note under the heatmaps says so, in mirror words
        pg.get_by_text("root is the whole mirror: mirrors and registries name no stacks").first.wait_for(timeout=PATIENCE_MS)
        assert pg.get_by_text("per-environment mirrors").count() == 0
        frames = {
            VIEWS[0]: (long, "stack", "package"),
            VIEWS[1]: (truth.specs, "target", "os"),
            VIEWS[2]: (long, "tag", "stack"),
        }
        for name, (frame, x, y) in frames.items():
            pg.get_by_role("button", name=name, exact=True).click()
            wait_value(pg, lambda p: plot(p, TITLES[name])["h"] > 0, True)
            sums = frame.groupby([x, y], observed=True)["size"].sum()
            (cx, cy), size = sums.index[-1], int(sums.iloc[-1])
            point = pg.evaluate(CELL_JS, [TITLES[name], str(cx), str(cy)])
            pg.mouse.move(point["x"] - 1, point["y"] + 1)
            pg.mouse.move(point["x"], point["y"])
            tip = pg.locator(".bk-Tooltip").filter(has_text="specs")
            tip.first.wait_for(timeout=PATIENCE_MS)
            text = re.sub(r"\s+", " ", tip.first.evaluate(TIP_TEXT_JS))
            assert f"size: {human_bytes(size)}" in text and str(cx) in text and str(cy) in text, text
            pg.screenshot(path=str(artifacts / f"everyday-size-hover-{name.split()[0].lower()}.png"))
            pg.mouse.move(5, 5)
        assert not pg.errors, pg.errors


def test_a_slow_answer_shows_the_busy_badge(server, browser, reference, artifacts):
    """The server's answers are held back (Playwright between page and server): a pick
    whose answer has not come after 300 ms shows "Working ...", and the badge goes once
    the answer arrives and the numbers follow the pick."""
    import re

    from support import wait_number

    held = {"on": False, "queue": [], "ws": None}

    def route(ws):
        upstream = ws.connect_to_server()
        ws.on_message(lambda m: upstream.send(m))

        def down(m):
            if held["on"]:
                held["queue"].append(m)
            else:
                ws.send(m)

        upstream.on_message(down)
        held["ws"] = ws

    specs = reference.drop_duplicates(["tag", "hash"])
    want = specs[specs["package"].str.contains("py-", case=False, regex=False)]
    ctx, pg = _page(browser)
    pg.route_web_socket(re.compile(r".*/ws(\?.*)?$"), route)
    pg.goto(server, timeout=PATIENCE_MS)
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    badge = pg.locator(".scd-busy")
    assert not badge.is_visible()
    held["on"] = True
    pg.locator("input[placeholder='e.g. py-']").first.press_sequentially("py-")
    badge.wait_for(state="visible", timeout=PATIENCE_MS)
    assert badge.inner_text() == "Working ..." and badge.get_attribute("role") == "status"
    pg.screenshot(path=str(artifacts / "everyday-busy-badge.png"))
    held["on"] = False
    for message in held["queue"]:
        held["ws"].send(message)
    held["queue"].clear()
    wait_number(pg, "Specs", len(want))
    badge.wait_for(state="hidden", timeout=PATIENCE_MS)
    assert not pg.errors, pg.errors
    ctx.close()


#: Column titles cut short (their text wider than their box) among the shown tables.
CUT_TITLES_JS = """() => {
  const titles = [];
  const walk = (root) => root.querySelectorAll('*').forEach(e => {
    if (e.classList.contains('tabulator-col-title')) titles.push(e);
    if (e.shadowRoot) walk(e.shadowRoot);
  });
  walk(document);
  return titles.filter(t => t.offsetParent !== null && t.textContent.trim() && t.scrollWidth > t.clientWidth + 1).map(t => t.textContent);
}"""


@pytest.mark.parametrize("width", [1400, 900])
def test_no_table_header_is_cut_in_any_view(server, browser, artifacts, width):
    """Every table of every view (the spec table, per stack, added/removed, why not, exact
    hits, nearest) shows its column titles whole, at 1400 and 900 px."""
    ctx, pg = _page(browser, width)
    for view, extra in (("overview", ""), ("compare", ""), ("runs-here", "&host=zen3"), ("find", "&q=py-build%20target%3Dzen3")):
        pg.goto(f"{server}?view={view}{extra}", timeout=PATIENCE_MS)
        pg.locator(".tabulator-row").filter(visible=True).first.wait_for(timeout=PATIENCE_MS)
        pg.wait_for_timeout(300)  # the last table's layout
        wait_value(pg, lambda p: p.evaluate(CUT_TITLES_JS), [])
        pg.screenshot(path=str(artifacts / f"everyday-headers-{view}-{width}.png"), full_page=True)
    assert not pg.errors, pg.errors
    ctx.close()
