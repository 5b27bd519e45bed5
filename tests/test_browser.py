"""The served app and the exported file, driven in headless Chromium like a user would."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from conftest import REAL_PAGES
from dashboard.domain import query as q
from dashboard.config import STORE_ENV
from support import PATIENCE_MS, column_texts, free_port, number, pick, selected, start_server, table_rows, wait_value, wait_number

pytestmark = pytest.mark.browser


def test_served_app_renders_real_data(server, page, real_data, artifacts):
    t0 = time.monotonic()
    page.goto(server)
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    elapsed = time.monotonic() - t0
    packages = set(real_data.specs["package"].astype(str))
    shown = set(column_texts(page, "package"))
    assert shown and shown <= packages
    assert page.locator("canvas").count() >= 1  # the heatmap is drawn
    # sizes read as the pages write them: bytes with separators, "-" when unknown
    sizes = column_texts(page, "size")
    assert sizes and all(re.fullmatch(r"-|\d{1,3}(,\d{3})*", t) for t in sizes), sizes
    wait_number(page, "Specs", len(real_data.specs))
    wait_value(page, table_rows, len(real_data.specs))
    page.screenshot(path=str(artifacts / "served-app.png"), full_page=True)
    assert not page.errors
    print(f"table visible {elapsed:.2f} s after navigation")


def test_choosing_a_stack_filters_table_and_numbers(server, page, real_data, artifacts):
    page.goto(server)
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    pick(page, 1, "e4s")
    index = q.build_index(real_data)
    expected = q.compute(index, q.Selection(stack=("e4s",)))
    wait_number(page, "Specs", expected.numbers["specs"])
    wait_value(page, table_rows, expected.numbers["specs"])
    stacks = column_texts(page, "stacks")
    assert stacks and all("e4s" in s.split(", ") for s in stacks)
    assert number(page, "Packages") == expected.numbers["packages"]
    page.screenshot(path=str(artifacts / "served-app-stack-e4s.png"), full_page=True)
    # CSV download holds exactly the filtered rows
    with page.expect_download() as dl:
        page.get_by_text("Download CSV (filtered rows)").click()
    import pandas as pd

    csv = pd.read_csv(dl.value.path())
    assert len(csv) == expected.numbers["specs"]
    assert sorted(csv["hash"]) == sorted(q.table_rows(index, expected.mask)["hash"])


def test_markup_in_pages_is_not_executed(browser, tmp_path, artifacts):
    src = (REAL_PAGES / "develop-2025-03-30" / "apfel" / "specs.md").read_text()
    evil = '<img src=x onerror="window.__xss=1">'
    text = src.replace('"+python"', f'"{evil}"'.replace('"window.__xss=1"', "window.__xss=1")).replace('"stacks": ["hep", "root"]', '"stacks": ["hep<script>window.__xss=2</script>", "root"]')
    text = text.replace('"num_specs_by_stack": {"hep": 1', '"num_specs_by_stack": {"hep<script>window.__xss=2</script>": 1')
    page_path = tmp_path / "t" / "apfel" / "specs.md"
    page_path.parent.mkdir(parents=True)
    page_path.write_text(text)
    port = free_port()
    proc = start_server(str(tmp_path), port)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.goto(f"http://127.0.0.1:{port}/")
        pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
        box = pg.locator("input.choices__input--cloned").nth(1)
        box.click()
        pg.wait_for_timeout(500)
        assert pg.locator(".choices__item--choice", has_text="hep<script>window.__xss=2</script> (1)").count() == 1
        pg.keyboard.press("Escape")
        assert evil.replace('"', "") in " ".join(column_texts(pg, "variants")).replace('"', "")
        assert pg.evaluate("window.__xss === undefined")
        pg.screenshot(path=str(artifacts / "markup-as-text.png"), full_page=True)
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_exported_file_is_interactive_offline(browser, real_data, tmp_path, artifacts):
    out = tmp_path / "cache.html"
    res = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "export", str(out), "--data", str(REAL_PAGES), "--no-cache"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    html = out.read_text()
    assert "py-pyproject-hooks" in html and "http://" not in html.split("<body")[0].replace("http://www.w3.org", "")
    ctx = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    requests = []
    ctx.route("**/*", lambda route: (requests.append(route.request.url), route.abort() if not route.request.url.startswith("file:") else route.continue_()))
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(out.as_uri())
    nums = "() => { const m = window.Bokeh && Bokeh.documents[0] && Bokeh.documents[0].get_model_by_name('numbers'); return m && m.tags.length ? m.tags : null; }"
    pg.wait_for_function(nums, timeout=PATIENCE_MS)
    index = q.build_index(real_data)
    everything = q.compute(index, q.Selection()).numbers
    assert pg.evaluate(nums) == [everything["packages"], everything["specs"], everything["stacks"], everything["tags"]]
    pick(pg, 1, "e4s")  # stack
    pick(pg, 2, "ubuntu22.04")  # OS
    want = q.compute(index, q.Selection(stack=("e4s",), os=("ubuntu22.04",)))
    pg.wait_for_function(f"() => ({nums})()[1] === {want.numbers['specs']}", timeout=PATIENCE_MS)
    assert pg.evaluate(nums) == [want.numbers["packages"], want.numbers["specs"], want.numbers["stacks"], want.numbers["tags"]]
    table_hashes = pg.evaluate("Bokeh.documents[0].get_model_by_name('table').data.hash")
    assert sorted(table_hashes) == sorted(q.table_rows(index, want.mask)["hash"])
    # every selector's options narrow to what exists under the other selections, with counts
    for dim in q.DIMENSIONS:
        expected = [[v, f"{v} ({n:,})"] for v, n in zip(want.options[dim]["value"], want.options[dim]["specs"])]
        wait_value(pg, lambda p: p.evaluate(f"Bokeh.documents[0].get_model_by_name('{dim}').options"), expected)
    with pg.expect_download() as dl:
        pg.get_by_text("Download CSV (rows in the table)").click()
    import pandas as pd

    assert len(pd.read_csv(dl.value.path())) == want.numbers["specs"]
    pg.screenshot(path=str(artifacts / "export-offline.png"), full_page=True)
    assert not errors
    assert all(u.startswith("file:") for u in requests), [u for u in requests if not u.startswith("file:")]
    ctx.close()


def test_url_round_trip_restores_selections(server, page, real_data, artifacts):
    index = q.build_index(real_data)
    want = q.compute(index, q.Selection(stack=("e4s",), os=("ubuntu22.04",)))
    # an unknown OS is ignored with a visible notice; the known values still apply
    page.goto(server + "?stack=e4s&os=ubuntu22.04&os=plan9")
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    wait_value(page, table_rows, want.numbers["specs"])
    assert number(page, "Specs") == want.numbers["specs"]
    assert selected(page, 1) == ["e4s"] and selected(page, 2) == ["ubuntu22.04"]
    notice = page.locator(".url-notice").get_by_text("OS 'plan9' from the URL is not in this build cache: ignored.")
    assert notice.is_visible()
    wait_value(page, lambda p: p.url, f"{server}?stack=e4s&os=ubuntu22.04")  # the ignored value leaves the URL
    page.screenshot(path=str(artifacts / "url-state-notice.png"))
    # changing a selector rewrites the URL: add the tag with the fewest of these specs
    tags = want.options["tag"].sort_values(["specs", "value"])
    tag, tag_specs = str(tags["value"].iloc[0]), int(tags["specs"].iloc[0])
    assert tag_specs < want.numbers["specs"]
    pick(page, 0, tag)
    wait_value(page, table_rows, tag_specs)
    wait_value(page, lambda p: p.url, f"{server}?tag={tag}&stack=e4s&os=ubuntu22.04")
    # opening the shared URL in a new page restores all three selections
    shared = page.url
    other = page.context.new_page()
    other.goto(shared)
    other.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    wait_value(other, table_rows, tag_specs)
    assert [selected(other, i) for i in range(5)] == [[tag], ["e4s"], ["ubuntu22.04"], [], []]
    assert other.locator(".url-notice").count() == 0
    assert not page.errors


CELL_JS = """([title, x, y]) => {
  const view = Bokeh.index.query_one(v => v.model.type === "Figure" && v.model.title && v.model.title.text === title);
  const box = view.el.getBoundingClientRect();
  const frame = view.frame;
  return {x: box.left + frame.x_scale.compute(x), y: box.top + frame.y_scale.compute(y)};
}"""


MARKED_JS = """(title) => {
  const view = Bokeh.index.query_one(v => v.model.type === "Figure" && v.model.title && v.model.title.text === title);
  const marker = view.model.renderers.find(r => r.glyph.type === "Scatter");
  const data = marker.data_source.data, get = (k) => Array.from(data instanceof Map ? data.get(k) : data[k]);
  return [get("stack"), get("package")];
}"""


def test_clicking_a_heatmap_cell_narrows_the_table(server, page, real_data, artifacts):
    index = q.build_index(real_data)
    everything = q.compute(index, q.Selection())
    # a cell whose specs are not the whole package: pick the busiest package in >1 stack
    cells = everything.package_stack
    multi = cells.groupby("package")["stack"].transform("size") > 1
    package, stack = cells[multi].sort_values("count", ascending=False).iloc[0][["package", "stack"]]
    want = q.compute(index, q.Selection(cell=(package, stack)))
    assert 0 < want.numbers["specs"] < len(real_data.specs)
    page.goto(server)
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    page.wait_for_function("() => window.Bokeh && Bokeh.index.query_one(v => v.model.type === 'Figure') !== null", timeout=PATIENCE_MS)
    point = page.evaluate(CELL_JS, ["Specs per package and stack", stack, package])
    page.mouse.click(point["x"], point["y"])
    wait_value(page, table_rows, want.numbers["specs"])
    assert set(column_texts(page, "package")) == {package}
    assert all(stack in s.split(", ") for s in column_texts(page, "stacks"))
    assert page.get_by_text(f"package {package}, stack {stack}").is_visible()
    wait_value(page, lambda p: p.evaluate(MARKED_JS, "Specs per package and stack"), [[stack], [package]])  # the cell is outlined
    wait_value(page, lambda p: p.url, f"{server}?cell={package}%2C{stack}")
    page.screenshot(path=str(artifacts / "served-app-cell-click.png"), full_page=True)
    assert not page.errors


def test_panel_serve_app_py_loads_then_shows_everything(browser, real_data, tmp_path, artifacts):
    """`panel serve dashboard/app.py`: the data loads after the page opens (progress
    shown), then the sidebar selectors, numbers and table appear and a URL applies."""
    port = free_port()
    proc = start_server(str(REAL_PAGES), port, panel_serve=True, env={STORE_ENV: str(tmp_path / "cache")})
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.goto(f"http://127.0.0.1:{port}/app?tag=develop-2025-03-30")
        pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
        want = q.compute(q.build_index(real_data), q.Selection(tag=("develop-2025-03-30",)))
        wait_value(pg, table_rows, want.numbers["specs"])
        assert pg.locator("input.choices__input--cloned").count() == 5
        assert selected(pg, 0) == ["develop-2025-03-30"]
        assert number(pg, "Packages") == want.numbers["packages"]
        pg.screenshot(path=str(artifacts / "panel-serve-app-py.png"), full_page=True)
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_chosen_values_stay_shown_when_their_counts_change(server, page, real_data):
    """Option labels carry counts; choosing an OS changes the count of the chosen stack,
    and the stack must stay chosen on screen (it once vanished from the box)."""
    index = q.build_index(real_data)
    before = q.compute(index, q.Selection(stack=("root",)))
    after = q.compute(index, q.Selection(stack=("root",), os=("ubuntu22.04",)))
    count = lambda res: int(res.options["stack"].set_index("value").loc["root", "specs"])
    assert count(before) != count(after)  # the label of the chosen stack changes
    page.goto(server)
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    pick(page, 1, "root")
    wait_value(page, table_rows, before.numbers["specs"])
    pick(page, 2, "ubuntu22.04")
    wait_value(page, table_rows, after.numbers["specs"])
    wait_value(page, lambda p: [selected(p, 1), selected(p, 2)], [["root"], ["ubuntu22.04"]])
    box = page.locator("div.choices").nth(1).locator(".choices__list--multiple .choices__item").first
    # the counts follow the answer (dashboard.app.RELABEL_DELAY_MS)
    wait_value(page, lambda p: box.inner_text().startswith(f"root ({count(after):,})"), True)


def test_long_version_list_shows_the_newest_and_typing_finds_the_rest(server, page, real_data):
    """The version list shows its first OPTION_LIMIT options (newest first); a version
    beyond them is found by typing and picked."""
    from dashboard.ui.components import Selectors

    options = q.compute(q.build_index(real_data), q.Selection()).options["version"]
    assert len(options) > Selectors.OPTION_LIMIT  # the real pages have more versions than the list shows
    oldest = str(options["value"].iloc[-1])
    want = q.compute(q.build_index(real_data), q.Selection(version=(oldest,)))
    page.goto(server)
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    version = list(q.DIMENSIONS).index("version")
    box = page.locator("input.choices__input--cloned").nth(version)
    box.click()
    shown = page.locator("div.choices").nth(version).locator(".choices__list--dropdown .choices__item--choice")
    wait_value(page, lambda p: shown.count(), Selectors.OPTION_LIMIT)
    labels = shown.all_inner_texts()
    assert [label.split(" (")[0] for label in labels] == [str(v) for v in options["value"].iloc[: Selectors.OPTION_LIMIT]]
    assert not any(label.startswith(f"{oldest} (") for label in labels)
    box.type(oldest)
    shown.filter(has_text=re.compile(rf"^{re.escape(oldest)} \(")).first.click()
    page.keyboard.press("Escape")
    wait_value(page, table_rows, want.numbers["specs"])
    assert selected(page, version) == [oldest]
    assert not page.errors


def test_clicking_an_os_target_cell_selects_them(server, page, real_data, artifacts):
    """On the OS x target heatmap a click selects that OS and target: selectors, numbers,
    table and URL follow (the heatmap is drawn once, then updated in place)."""
    index = q.build_index(real_data)
    cells = q.compute(index, q.Selection()).os_target.sort_values("count")
    os_name, target = cells.iloc[len(cells) // 2][["os", "target"]]
    want = q.compute(index, q.Selection(os=(os_name,), target=(target,)))
    page.goto(server)
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    page.get_by_role("button", name="OS x target").click()
    page.wait_for_function("() => Bokeh.index.query_one(v => v.model.type === 'Figure' && v.model.title && v.model.title.text === 'Specs per OS and target' && v.model.inner_height > 0) !== null", timeout=PATIENCE_MS)
    point = page.evaluate(CELL_JS, ["Specs per OS and target", target, os_name])
    page.mouse.click(point["x"], point["y"])
    wait_value(page, table_rows, want.numbers["specs"])
    wait_value(page, lambda p: [selected(p, 2), selected(p, 3)], [[os_name], [target]])
    assert number(page, "Specs") == want.numbers["specs"]
    wait_value(page, lambda p: p.url, f"{server}?os={os_name}&target={target}")
    page.screenshot(path=str(artifacts / "served-app-os-target-click.png"), full_page=True)
    assert not page.errors


def test_typing_the_same_search_again_right_after_clearing_applies_it(server, page, real_data):
    """Typed text is applied; after *Clear all filters* the same text typed again is
    applied again, also when the browser sends it as one change (keys typed quickly,
    or pasted: ``fill``), which once equalled the server's stale copy of the typed
    text and was dropped.  Text from the URL cleared by hand clears the search."""
    want = q.compute(q.build_index(real_data), q.Selection(package="py-"))
    page.goto(server)
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    search = page.locator("input[placeholder='e.g. py-']").first
    for enter in (lambda: search.type("py-", delay=40), lambda: search.fill("py-"), lambda: search.fill("py-")):
        enter()
        wait_value(page, table_rows, want.numbers["specs"])
        page.get_by_role("button", name="Clear all filters").first.click()
        wait_value(page, table_rows, len(real_data.specs))
        wait_value(page, lambda p: search.input_value(), "")
    page.goto(f"{server}?package=py-")
    wait_value(page, table_rows, want.numbers["specs"])
    search.fill("")
    wait_value(page, table_rows, len(real_data.specs))
    assert not page.errors


def test_a_pick_in_one_session_sends_nothing_to_another(server, browser, real_data):
    """Sessions are independent: a pick in one page changes its numbers and sends no
    message to another open page (Panel's busy state is process-wide; a template busy
    indicator made every page restyle on every pick of any other)."""
    index = q.build_index(real_data)
    stack = str(index.categories["stack"][0])
    want = q.compute(index, q.Selection(stack=(stack,)))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        watcher, picker = context.new_page(), context.new_page()
        for pg in (watcher, picker):
            pg.goto(server)
            pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
        frames = []
        watcher.wait_for_timeout(2000)  # anything the first render still sends has arrived
        session = watcher.context.new_cdp_session(watcher)
        session.send("Network.enable")
        session.on("Network.webSocketFrameReceived", lambda e: frames.append(e["response"]["payloadData"][:200]))
        pick(picker, list(q.DIMENSIONS).index("stack"), stack)
        wait_number(picker, "Specs", want.numbers["specs"])
        picker.wait_for_timeout(1500)
        watcher.wait_for_timeout(500)  # the watcher's events are handled within Playwright calls
        assert frames == [], frames
        assert number(watcher, "Specs") == len(real_data.specs)
    finally:
        context.close()


#: The style sheets of each text pane the page draws (Panel's HTML model), by its text's start.
TEXT_PANE_SHEETS_JS = """() => [...Bokeh.index.query(() => true)].filter(v => v.model.type === 'panel.models.markup.HTML')
  .map(v => v.model.stylesheets.map(s => typeof s === 'string' ? s : s.url).join(' ')).sort()"""


def test_a_pick_sends_text_panes_their_text_not_their_style_sheets(server, page, real_data):
    """The first pick after the page loads answers with the panes' new text only: Panel's
    HTML pane sent its style sheets again at its first change, now holding the whole
    Bootstrap design the page had drawn it without (restyling the row count and size
    line, ~85 ms of that pick in Chromium).  The count shown is pandas' count."""
    os_name = str(real_data.specs["os"].value_counts().index[-1])  # the OS with fewest specs
    want = int((real_data.specs["os"] == os_name).sum())
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f if isinstance(f, str) else "")))
    page.goto(server)
    page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    wait_value(page, table_rows, len(real_data.specs))
    before = page.evaluate(TEXT_PANE_SHEETS_JS)
    frames.clear()
    pick(page, list(q.DIMENSIONS).index("os"), os_name)
    wait_number(page, "Specs", want)
    wait_value(page, table_rows, want)
    changed = [f[:300] for f in frames if '"attr":"stylesheets"' in f]
    assert any('"attr":"text"' in f for f in frames)  # the answer came as text changes
    assert changed == [], changed
    assert page.evaluate(TEXT_PANE_SHEETS_JS) == before
