"""The served app walked as a newcomer would: random selections (many matching
nothing) from the UI and from odd URLs, every heatmap view at two window widths,
hover, and a count of every request the page makes."""

from __future__ import annotations

import random
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pandas as pd
import pytest

from dashboard.domain import query as q
from dashboard.core.terms import HEATMAPS
from support import PATIENCE_MS, column_texts, expand_row, number, pick, table_rows, wait_value

pytestmark = pytest.mark.browser

TOP_N = 30  # the app's default number of packages on the heatmap
VIEWS = ["Package x stack", "OS x target", "Stack x tag"]
TITLES = {"Package x stack": "Specs per package and stack", "OS x target": "Specs per OS and target", "Stack x tag": "Specs per stack and tag"}
# every Bokeh plot: title, drawing area (px) and number of categories on each axis
PLOTS_JS = """() => {
// factors that name something: not the empty plot's "" nor an empty row (zero-width spaces)
const named = (r) => r.factors ? r.factors.filter(f => f.replace(/\u200b/g, "") !== "").length : 0;
return Array.from(Bokeh.index.query(v => v.model.type === "Figure" && v.model.title && v.model.title.text)).map(v => {
  const m = v.model;
  return {title: m.title.text, h: m.inner_height, w: m.inner_width,
          ny: named(m.y_range), nx: named(m.x_range), rows: m.y_range.factors ? m.y_range.factors.length : 0};
});
}"""
TIP_TEXT_JS = """e => [e, ...(e.shadowRoot ? e.shadowRoot.children : [])]
  .filter(c => !["STYLE", "LINK"].includes(c.tagName)).map(c => c.innerText || "").join(" ")"""
CELL_JS = """([title, x, y]) => {
  const view = Bokeh.index.query_one(v => v.model.type === "Figure" && v.model.title && v.model.title.text.startsWith(title));
  const box = view.el.getBoundingClientRect();
  return {x: box.left + view.frame.x_scale.compute(x), y: box.top + view.frame.y_scale.compute(y)};
}"""


def local(url: str) -> bool:
    return url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:"))


def plot(pg, title: str) -> dict:
    """The drawn plot whose title starts with ``title`` (visible: non-zero drawing area)."""
    plots = [p for p in pg.evaluate(PLOTS_JS) if p["title"].startswith(title) and p["h"] > 0]
    assert plots, f"no drawn plot titled {title!r}"
    return plots[0]


def check_page(pg, index, sel: q.Selection, server_url: str, csv: bool = False) -> None:
    """Headline, heatmap, table, URL, empty state (and optionally CSV) all show ``sel``."""
    want = q.compute(index, sel, top_n=TOP_N)
    specs = want.numbers["specs"]
    wait_value(pg, table_rows, specs)
    wait_value(pg, lambda p: number(p, "Specs"), specs)
    assert number(pg, "Packages") == want.numbers["packages"]
    assert number(pg, "Tags") == want.numbers["tags"]
    empty_note = pg.get_by_text("No specs match this selection.")
    if specs == 0:
        assert empty_note.is_visible()
        wait_value(pg, lambda p: plot(p, TITLES["Package x stack"])["title"].endswith("no specs match this selection"), True)
    else:
        assert not empty_note.is_visible()
        rows = want.package_stack["package"].nunique()
        wait_value(pg, lambda p: plot(p, TITLES["Package x stack"])["ny"], rows)
    state = sorted((k, v) for k, v in _url_pairs(sel))
    wait_value(pg, lambda p: sorted(parse_qsl(urlsplit(p.url).query)), state)
    assert "Traceback" not in pg.content()
    if csv:
        with pg.expect_download() as dl:
            pg.get_by_text("Download CSV (filtered rows)").click()
        frame = pd.read_csv(dl.value.path(), keep_default_na=False, dtype=str)
        assert len(frame) == specs
        assert sorted(frame["hash"]) == sorted(q.table_rows(index, want.mask)["hash"])


def _url_pairs(sel: q.Selection) -> list[tuple[str, str]]:
    pairs = [(dim, v) for dim in q.DIMENSIONS for v in sel.values(dim)]
    if sel.package:
        pairs.append(("package", sel.package))
    if sel.cell:
        pairs.append(("cell", ",".join(sel.cell)))
    return pairs


ODD = ["nope", "[Session expired](http://evil.example/login)", "![t](http://host/track.png)", "<b>x</b>", "\u00fc\u00df", "a,b", " "]


def url_case(rnd: random.Random, index, empty: bool) -> tuple[list[tuple[str, str]], q.Selection]:
    """Random URL query pairs (with odd values the app must ignore) and the selection they mean."""
    values = {dim: [str(v) for v in index.categories[dim]] for dim in q.DIMENSIONS}
    pairs, sel = [], {}
    for dim in rnd.sample(list(q.DIMENSIONS), rnd.randint(1, 3)):
        chosen = rnd.sample(values[dim], min(len(values[dim]), rnd.randint(1, 2)))
        sel[dim] = tuple(chosen)
        pairs += [(dim, v) for v in chosen]
    if rnd.random() < 0.6:
        pairs.append((rnd.choice(list(q.DIMENSIONS)), rnd.choice(ODD)))  # ignored, with a notice
    if empty:
        sel["package"] = f"no-such-package-{rnd.randint(0, 999)}"
        pairs.append(("package", sel["package"]))
    # the app keeps the first mention's order within a dimension: rebuild it from the pairs
    selection = q.Selection(**{dim: tuple(dict.fromkeys(v for k, v in pairs if k == dim and v in values[dim])) for dim in q.DIMENSIONS},
                            package=sel.get("package", ""))
    return pairs, selection


def test_random_walk_of_selections(server, page, real_data, artifacts):
    """30 selections, 20 from URLs and 10 from the UI, at least 10 matching nothing: no
    traceback, the numbers, heatmap, table, CSV and URL agree, the empty state shows."""
    index = q.build_index(real_data)
    rnd = random.Random(20261129)
    empties = 0
    for i in range(20):
        pairs, sel = url_case(rnd, index, empty=i % 3 == 0)
        page.goto(server + "?" + urlencode(pairs))
        page.wait_for_selector(".bk-panel-models-tabulator-DataTabulator, .tabulator", timeout=PATIENCE_MS)
        check_page(page, index, sel, server, csv=i % 5 == 0)
        empties += q.compute(index, sel).numbers["specs"] == 0
        if i == 0:
            page.screenshot(path=str(artifacts / "walk-url-empty.png"), full_page=True)
    # from the UI: one action a step, from a cleared page
    page.goto(server)
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    sel = q.Selection()
    search = page.locator("input[placeholder='e.g. py-']").first
    for step in range(10):
        action = ["pick", "type", "pick", "nonsense", "pick", "clear"][step % 6]
        if action == "pick":
            options = q.compute(index, sel).options
            dims = [d for d in q.DIMENSIONS if len(options[d]) and d not in ("version",)]
            dim = rnd.choice(dims)
            value = rnd.choice([v for v in options[dim]["value"] if v not in sel.values(dim)] or list(options[dim]["value"]))
            count = int(options[dim].set_index("value").loc[value, "specs"])
            pick(page, list(q.DIMENSIONS).index(dim), value, count=count)  # once the counts of the last change show
            sel = q.Selection(**{**{d: sel.values(d) for d in q.DIMENSIONS}, dim: tuple(dict.fromkeys((*sel.values(dim), value)))}, package=sel.package)
        elif action in ("type", "nonsense"):
            text = rnd.choice(["py-", "a", "build", "lib"]) if action == "type" else "zzq" + str(step)
            search.fill("")
            search.type(text, delay=40)  # applied while typing, no Enter
            sel = q.Selection(**{d: sel.values(d) for d in q.DIMENSIONS}, package=text)
        else:
            page.get_by_role("button", name="Clear all filters").first.click()
            sel = q.Selection()
            search_value = ""
            wait_value(page, lambda p: search.input_value(), search_value)
        check_page(page, index, sel, server, csv=step == 3)
        empties += q.compute(index, sel).numbers["specs"] == 0
        if action == "nonsense":
            page.screenshot(path=str(artifacts / "walk-empty-state.png"), full_page=True)
            # recovering: clearing everything brings all specs back
            page.get_by_role("button", name="Clear all filters").last.click()
            sel = q.Selection()
            check_page(page, index, sel, server)
    assert empties >= 10, empties
    assert not page.errors, page.errors


@pytest.mark.parametrize("width", [1400, 900])
def test_every_heatmap_view_is_readable(server, browser, real_data, artifacts, width):
    """Each view, opened after each other one, draws at least 12 px per category on both
    axes; hovering a cell names it and its spec count."""
    index = q.build_index(real_data)
    everything = q.compute(index, q.Selection())
    ctx = browser.new_context(viewport={"width": width, "height": 1000})
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server)
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    for name in [VIEWS[1], VIEWS[2], VIEWS[0], VIEWS[2], VIEWS[1], VIEWS[0]]:  # each after each other one
        pg.get_by_role("button", name=name, exact=True).click()
        wait_value(pg, lambda p: plot(p, TITLES[name])["h"] > 0, True)
        pg.wait_for_timeout(300)
        drawn = plot(pg, TITLES[name])
        assert drawn["ny"] and drawn["nx"]
        assert drawn["h"] >= 12 * drawn["rows"], drawn  # every row, empty ones too, keeps 12 px
        assert drawn["w"] >= 12 * drawn["nx"], drawn
        # nothing is cut: the whole page is no wider than the window
        assert pg.evaluate("document.documentElement.scrollWidth") <= width + 1
        pg.screenshot(path=str(artifacts / f"view-{width}-{name.split()[0].lower()}.png"), full_page=True)
    # hover: the busiest cell of each view shows its names and count
    cells = {
        VIEWS[0]: everything.package_stack.rename(columns={"stack": "x", "package": "y"}),
        VIEWS[1]: everything.os_target.rename(columns={"target": "x", "os": "y"}),
        VIEWS[2]: everything.stack_tag.rename(columns={"tag": "x", "stack": "y"}),
    }
    for name, frame in cells.items():
        pg.get_by_role("button", name=name, exact=True).click()
        wait_value(pg, lambda p: plot(p, TITLES[name])["h"] > 0, True)
        cell = frame.sort_values("count", ascending=False).iloc[-1]
        point = pg.evaluate(CELL_JS, [TITLES[name], cell["x"], cell["y"]])
        pg.mouse.move(point["x"] - 1, point["y"] + 1)
        pg.mouse.move(point["x"], point["y"])
        tip = pg.locator(".bk-Tooltip").filter(has_text="specs")
        tip.first.wait_for(timeout=PATIENCE_MS)
        # the tooltip's rows live in its shadow root
        text = re.sub(r"\s+", " ", tip.first.evaluate(TIP_TEXT_JS))
        assert str(cell["x"]) in text and str(cell["y"]) in text and f"specs: {cell['count']}" in text, text
        assert "index" not in text and "screen" not in text
        pg.screenshot(path=str(artifacts / f"hover-{width}-{name.split()[0].lower()}.png"))
    assert not errors, errors
    ctx.close()


def test_no_request_leaves_localhost(server, browser, tmp_path, artifacts):
    """The served app through a whole session, then its Export HTML opened offline:
    every request stays on this machine."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    outside: list[str] = []
    loaded: list[str] = []
    ctx.on("request", lambda r: (loaded.append(r.url), None if local(r.url) else outside.append(r.url)))
    pg = ctx.new_page()
    pg.goto(server + "?stack=e4s")
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    for name in VIEWS[::-1]:
        pg.get_by_role("button", name=name, exact=True).click()
        pg.wait_for_timeout(500)
    pg.locator("input[placeholder='e.g. py-']").first.type("py-", delay=30)
    pg.wait_for_timeout(1500)
    detail = expand_row(pg, ".spec-hash")  # a row's detail
    hashes = column_texts(pg, "hash")
    assert detail.inner_text() in {h for h in hashes} or len(detail.inner_text()) == 32
    pg.screenshot(path=str(artifacts / "row-detail.png"), full_page=True)
    with pg.expect_download() as dl:
        pg.get_by_text("Export HTML (current selection)").click()
    exported = tmp_path / "app-export.html"
    dl.value.save_as(exported)
    pg.close()
    offline = browser.new_context(offline=True)
    seen: list[str] = []
    offline.on("request", lambda r: seen.append(r.url))
    view = offline.new_page()
    view.goto(exported.as_uri())
    view.wait_for_function("() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].get_model_by_name('numbers').tags.length", timeout=PATIENCE_MS)
    view.screenshot(path=str(artifacts / "app-export-offline.png"), full_page=True)
    assert all(u.startswith(("file:", "data:", "blob:")) for u in seen), [u for u in seen if not u.startswith("file:")]
    assert outside == [], outside
    # MathJax (1.8 MB) and Bokeh's WebGL bundle are left out of the served page: it shows
    # no formulas, and its plots draw on canvas
    assert any("bokeh.min.js" in u for u in loaded) and not any("mathjax" in u.lower() for u in loaded), loaded
    assert not any("bokeh-gl" in u for u in loaded), loaded
    ctx.close()
    offline.close()


READ_EXPORT_JS = """() => {
  const doc = Bokeh.documents[0], m = (name) => doc.get_model_by_name(name);
  const cells = (name) => { const d = m(name).data; return d.x.map((x, i) => [String(d.y[i]), String(x), d.count[i]]); };
  const options = {};
  for (const dim of ["tag", "stack", "os", "target", "version"]) options[dim] = m(dim).options.map((o) => o[1]);
  return {numbers: m("numbers").tags, hashes: [...m("table").data.hash], options,
          package_stack: cells("package_stack"), os_target: cells("os_target"), stack_tag: cells("stack_tag")};
}"""
SET_EXPORT_JS = """(sel) => {
  const doc = Bokeh.documents[0];
  for (const [name, value] of Object.entries(sel)) doc.get_model_by_name(name).value = value;
}"""


def test_export_javascript_equals_python_queries(browser, real_data, tmp_path, artifacts):
    """The export's query engine (dashboard/static/export_update.js) against
    dashboard.domain.query.compute over 40 random selections, several matching nothing:
    headline numbers, table rows, all three heatmaps and every selector's options."""
    from dashboard.export import export_html

    out = tmp_path / "export.html"
    export_html(real_data, out)
    index = q.build_index(real_data)
    ctx = browser.new_context(offline=True)
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(out.as_uri())
    pg.wait_for_function("() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].get_model_by_name('numbers').tags.length", timeout=PATIENCE_MS)
    rnd = random.Random(7)
    values = {dim: [str(v) for v in index.categories[dim]] for dim in q.DIMENSIONS}
    previous = {dim: [] for dim in q.DIMENSIONS} | {"package": ""}
    for i in range(40):
        chosen = {dim: rnd.sample(values[dim], rnd.randint(1, 2)) if rnd.random() < 0.4 else [] for dim in q.DIMENSIONS}
        chosen["package"] = rnd.choice(["", "", "py-", "A", "lib", f"none-{i}"]) if i % 4 else rnd.choice(["", "py-"])
        pg.evaluate(SET_EXPORT_JS, {k: v for k, v in chosen.items() if v != previous[k]})
        previous = chosen
        sel = q.Selection(**{d: tuple(chosen[d]) for d in q.DIMENSIONS}, package=chosen["package"])
        want = q.compute(index, sel, top_n=TOP_N)
        got = pg.evaluate(READ_EXPORT_JS)
        n = want.numbers
        assert got["numbers"] == [n["packages"], n["specs"], n["stacks"], n["tags"]], (sel, got["numbers"])
        assert sorted(got["hashes"]) == sorted(q.table_rows(index, want.mask)["hash"]), sel
        for h in HEATMAPS:
            frame = getattr(want, h.result)
            expected = sorted(zip(frame[h.y].astype(str), frame[h.x].astype(str), frame["count"].astype(int)))
            assert sorted(map(tuple, got[h.result])) == expected, (sel, h.name)
        for dim in q.DIMENSIONS:
            opts = want.options[dim]
            expected = [f"{v} ({c:,})" for v, c in zip(opts["value"], opts["specs"])]
            wait_value(pg, lambda p: p.evaluate(READ_EXPORT_JS)["options"][dim], expected)
    pg.screenshot(path=str(artifacts / "export-equivalence.png"), full_page=True)
    assert not errors, errors
    ctx.close()
