"""The question views in the served app, driven in Chromium like a user: each number
shown is checked against pandas/archspec computed here, not by the app's code."""

from __future__ import annotations

import re
from urllib.parse import quote

import archspec.cpu
import pandas as pd
import pytest

from conftest import ROOT, STORE_ENV, variant_tokens
from support import PATIENCE_MS, expand_row, free_port, number, start_server, table_rows, wait_number, wait_value

from dashboard.domain.match import spec_variants

pytestmark = pytest.mark.browser
OLD, NEW = "develop-2025-03-23", "develop-2025-03-30"
CONFIGURATION = ["package", "variants", "compiler", "os", "target"]


def expected_diff(specs: pd.DataFrame, a: str, b: str) -> dict[str, int]:
    """The five diff counts from plain pandas: hashes on one side only, paired per configuration."""
    old, new = specs[specs["tag"] == a], specs[specs["tag"] == b]
    gone, added = old[~old["hash"].isin(new["hash"])], new[~new["hash"].isin(old["hash"])]
    key = lambda f: f[CONFIGURATION].astype(str).assign(variants=f["variants"].astype(str).map(variant_tokens)).apply(tuple, axis=1).value_counts()  # noqa: E731
    pairs = int(pd.concat([key(gone), key(added)], axis=1).fillna(0).min(axis=1).sum()) if len(gone) and len(added) else 0
    pk_old, pk_new = set(old["package"].astype(str)), set(new["package"].astype(str))
    return {"packages-added": len(pk_new - pk_old), "packages-removed": len(pk_old - pk_new),
            "specs-added": len(added) - pairs, "specs-removed": len(gone) - pairs, "specs-changed": pairs}


def shown(pg, css: str) -> int:
    return int(pg.locator(f"b.{css}").first.inner_text().replace(",", ""))


def open_view(pg, server, query: str = "", wait_css: str | None = None):
    pg.goto(server + ("?" + query if query else ""))
    pg.wait_for_selector(wait_css or ".bk-tab", timeout=PATIENCE_MS)


def test_compare_two_tags(server, page, real_data, artifacts):
    pg = page
    open_view(pg, server, "view=compare", "b.diff-specs-added")
    tag_a, tag_b = pg.locator(".tag-a select"), pg.locator(".tag-b select")
    tag_a.select_option(OLD)
    tag_b.select_option(NEW)
    want = expected_diff(real_data.specs, OLD, NEW)
    for css, value in want.items():
        wait_value(pg, lambda p, c=css: shown(p, f"diff-{c}"), value)
    assert want["specs-changed"] > 0 and want["packages-added"] == 1
    wait_value(pg, lambda p: p.url, server + f"?view=compare&a={OLD}&b={NEW}")
    # the per-stack table's root row holds every change
    root = pg.locator(".tabulator-row", has=pg.locator("div.tabulator-cell[tabulator-field='stack']", has_text=re.compile("^root$")))
    cells = [int(root.first.locator(f"div.tabulator-cell[tabulator-field='{f}']").inner_text()) for f in ("added", "removed", "changed")]
    assert cells == [want["specs-added"], want["specs-removed"], want["specs-changed"]]
    with pg.expect_download() as dl:
        pg.get_by_text("Download CSV (all changes)").click()
    csv = pd.read_csv(dl.value.path())
    assert csv["change"].value_counts().to_dict() == {
        k: v for k, v in {"added": want["specs-added"], "removed": want["specs-removed"], "changed": want["specs-changed"]}.items() if v
    }
    # the same tag on both sides: the view says so instead of showing zeros
    tag_a.select_option(NEW)
    note = pg.locator(".compare-note").first
    wait_value(pg, lambda p: note.inner_text().startswith("A and B are the same tag"), True)
    assert NEW in note.inner_text() and pg.locator("b.diff-specs-changed").count() == 0
    pg.screenshot(path=str(artifacts / "view-compare-same.png"), full_page=True)
    pg.set_viewport_size({"width": 900, "height": 1000})
    tag_a.select_option(OLD)
    wait_value(pg, lambda p: shown(p, "diff-specs-added"), want["specs-added"])
    pg.screenshot(path=str(artifacts / "view-compare-900.png"), full_page=True)
    assert pg.evaluate("document.documentElement.scrollWidth") <= 900
    # nothing cut at the window's edge: B's list, and every per-stack column inside its table
    right = lambda box: box["x"] + box["width"]  # noqa: E731
    assert right(tag_b.bounding_box()) <= 900
    holder = pg.locator(".diff-by-stack .tabulator-tableholder").first.bounding_box()
    for field in ("stack", "added", "removed", "changed"):
        cell = root.first.locator(f"div.tabulator-cell[tabulator-field='{field}']").bounding_box()
        assert right(cell) <= min(right(holder), 900) + 1, f"the per-stack column {field} is cut at 900 px"
    assert not pg.errors, pg.errors


def test_runs_here_host_filter(server, page, real_data, artifacts):
    pg = page
    open_view(pg, server, "view=runs-here")
    pg.get_by_text("No host given").wait_for(timeout=PATIENCE_MS)
    box = pg.locator("input[placeholder='zen3 or linux-ubuntu22.04-zen3']")
    box.fill("zen9")
    box.press("Enter")
    pg.locator(".host-message", has_text="unknown target 'zen9'").wait_for(timeout=PATIENCE_MS)
    box.fill("linux-ubuntu22.04-neoverse_v2")
    box.press("Enter")
    specs = real_data.specs
    runs = (
        (specs["platform"] == "linux") & (specs["os"] == "ubuntu22.04")
        & specs["target"].astype(str).map(lambda t: archspec.cpu.TARGETS[t] <= archspec.cpu.TARGETS["neoverse_v2"])
    )
    assert 0 < runs.sum() < len(specs)
    wait_value(pg, lambda p: shown(p, "runs-here-count"), int(runs.sum()))
    assert shown(pg, "runs-here-packages") == specs.loc[runs, "package"].nunique()
    assert "host=linux-ubuntu22.04-neoverse_v2" in pg.url
    # the reasons read as text, their counts as integers adding up to the specs that do not run
    reasons = pg.locator("div.tabulator-cell[tabulator-field='reason']").all_inner_texts()
    counts = [int(c) for c in pg.locator("div.tabulator-cell[tabulator-field='specs']").all_inner_texts()]
    assert "built for ubuntu24.04, host runs ubuntu22.04" in reasons and "x86_64 binary, aarch64 host" in reasons
    assert sum(counts) == len(specs) - int(runs.sum())
    pg.screenshot(path=str(artifacts / "view-runs-here.png"), full_page=True)
    # the overview follows the host filter: numbers and table
    pg.locator(".bk-tab", has_text="Overview").click()
    wait_number(pg, "Specs", int(runs.sum()))
    wait_value(pg, table_rows, int(runs.sum()))
    assert not pg.errors, pg.errors


def test_find_my_spec_and_copy_a_command(server, browser, real_data, artifacts):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    specs = real_data.specs
    row = specs[(specs["package"] == "axl") & (specs["compiler"] != "none")].iloc[0]
    text = f"axl@{row['version']} {row['variants']} os={row['os']} target={row['target']} %{row['compiler']}"  # Spack 1.x: the compiler last
    fields = ["package", "version", "compiler", "os", "target"]
    same = specs[(specs[fields].astype(str) == row[fields].astype(str)).all(axis=1)
                 & (specs["variants"].astype(str).map(spec_variants) == [spec_variants(row["variants"])] * len(specs))]
    open_view(pg, server, "view=find", ".find-input textarea")
    pg.get_by_text("Paste something to look for.").wait_for(timeout=PATIENCE_MS)
    # before a search: no empty result tables, no page buttons
    assert not pg.get_by_role("heading", name="Exact hits").is_visible() and not pg.locator(".find-exact .tabulator-footer").is_visible()
    pg.locator(".find-input textarea").fill(text)
    pg.get_by_role("button", name="Find").click()
    wait_value(pg, lambda p: shown(p, "find-exact-count"), len(same))
    cells = "div.tabulator-cell[tabulator-field='hash']"
    wait_value(pg, lambda p: set(same["hash"]) <= set(p.locator(cells).all_inner_texts()), True)  # the table draws after the count
    # one field off: no exact hit, the nearest say what differs
    pg.locator(".find-input textarea").fill(text.replace(f"target={row['target']}", "target=zen5"))
    pg.get_by_role("button", name="Find").click()
    wait_value(pg, lambda p: shown(p, "find-exact-count"), 0)
    pg.get_by_text("(wanted zen5").first.wait_for(timeout=PATIENCE_MS)
    assert not pg.get_by_role("heading", name="Exact hits").is_visible()  # "0 exact hits" says it, no empty table
    pg.screenshot(path=str(artifacts / "view-find.png"), full_page=True)
    # a typo: a message, never a traceback
    pg.locator(".find-input textarea").fill("axl @@")
    pg.get_by_role("button", name="Find").click()
    pg.locator(".find-error", has_text="unexpected characters").wait_for(timeout=PATIENCE_MS)  # Spack's words
    pg.get_by_role("heading", name="Exact hits").wait_for(state="hidden", timeout=PATIENCE_MS)  # no stale results beside the error
    # copy a command from a spec's detail in the overview
    pg.locator(".bk-tab", has_text="Overview").click()
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    expand_row(pg, "code.install-cmd")
    command = pg.locator("code.install-cmd").last
    pg.locator(".copy-cmd").last.click()
    assert pg.evaluate("navigator.clipboard.readText()") == command.inner_text()
    assert command.inner_text().startswith("spack install --use-buildcache only /")
    assert pg.locator("code.install-cmd").first.inner_text().startswith("spack mirror add ")
    pg.screenshot(path=str(artifacts / "view-row-commands.png"), full_page=True)
    assert not errors, errors
    ctx.close()


def test_odd_view_values_in_the_url(server, page, artifacts):
    pg = page
    open_view(pg, server, f"view=bogus&a=nope&host={quote('zen9')}&q={quote('{broken')}", ".url-notice")
    notice = pg.locator(".url-notice")
    for text in ("View 'bogus' from the URL", "Tag 'nope' from the URL", "Host 'zen9' from the URL: unknown target 'zen9'"):
        notice.get_by_text(text).wait_for(timeout=PATIENCE_MS)
    wait_number(pg, "Specs", 473)  # nothing filtered by the bad values
    assert not pg.errors, pg.errors


@pytest.fixture(scope="module")
def mirror_server(tmp_path_factory):
    """The app served on a v3 mirror set generated from the real pages, sizes read."""
    from benchmarks.mirrors import write_mirror_set
    from dashboard.load import load

    root = tmp_path_factory.mktemp("mirror-set")
    index = write_mirror_set(root / "set")
    cache = tmp_path_factory.mktemp("cache")
    load(index, cache_dir=cache, sizes=True)  # sizes in the store: the server's load reads them from there
    port = free_port()
    proc = start_server(str(index), port, env={STORE_ENV: str(cache)}, extra_args=["--sizes"])
    yield f"http://127.0.0.1:{port}/", index
    proc.terminate()
    proc.wait(timeout=10)


def test_the_app_on_a_mirror_set_shows_what_the_pages_show_plus_sizes(mirror_server, page, real_data, artifacts):
    url, _ = mirror_server
    pg = page
    pg.goto(url + "?stack=e4s")
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    ids = real_data.spec_stacks.loc[real_data.spec_stacks["stack"] == "e4s", "spec"]
    wait_number(pg, "Specs", len(ids))
    assert number(pg, "Packages") == real_data.specs.iloc[ids.to_numpy()]["package"].nunique()
    sizes = pg.locator("div.tabulator-row div.tabulator-cell[tabulator-field='size']").all_inner_texts()
    deps = pg.locator("div.tabulator-row div.tabulator-cell[tabulator-field='n_deps']").all_inner_texts()
    assert sizes and all(re.fullmatch(r"\d+(\.\d)? (B|KiB|MiB|GiB)", s) for s in sizes)  # every size known (spec manifests)
    assert deps and all(d in ("0", "1") for d in deps)  # the generator's compiler edge
    expand_row(pg, ".spec-deps")
    pg.screenshot(path=str(artifacts / "mirror-app.png"), full_page=True)
    # the question views too: the diff of the mirror set is the diff of the pages
    pg.goto(url + f"?view=compare&a={OLD}&b={NEW}")
    for css, value in expected_diff(real_data.specs, OLD, NEW).items():
        wait_value(pg, lambda p, c=css: shown(p, f"diff-{c}"), value)
    assert not pg.errors, pg.errors


def test_cli_export_of_a_mirror_set(mirror_server, tmp_path, real_data):
    import subprocess
    import sys

    _, index = mirror_server
    out = tmp_path / "mirror.html"
    run = subprocess.run([sys.executable, "-m", "dashboard.cli", "export", str(out), "--data", str(index)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert f"{len(real_data.specs):,} specs" in run.stdout and out.stat().st_size > 100_000


def test_random_walk_over_the_question_views(server, page, real_data, artifacts):
    """Random URLs over the three views (valid, odd and empty values): every shown
    number equals what pandas/archspec give here, and nothing breaks."""
    import random

    rng = random.Random(7)
    pg = page
    outside: list[str] = []  # air-gapped sites: the views load nothing from off this machine
    pg.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else outside.append(r.url))
    specs = real_data.specs
    tags = sorted(real_data.tags)
    hosts = ["zen3", "neoverse_v2", "m2", "linux-ubuntu22.04-zen3", "linux-rhel8-aarch64", "darwin-sequoia-m1", "zen9", ""]
    rows = specs.sample(6, random_state=3)
    finds = [f"{r.package}@{r.version} %{r.compiler} target={r.target}" for r in rows.itertuples()]
    finds += ["/" + h[:5] for h in rows["hash"]] + ["nosuchpackage@1.0", "axl @@", "+mpi", ""]
    checked = 0
    for step in range(14):
        view = rng.choice(["runs-here", "compare", "find"])
        query = {"view": view}
        if view == "runs-here":
            query["host"] = rng.choice(hosts)
        elif view == "compare":
            query["a"], query["b"] = rng.choice(tags), rng.choice(tags)
        else:
            query["q"] = rng.choice(finds)
        pg.goto(server + "?" + "&".join(f"{k}={quote(v)}" for k, v in query.items()))
        pg.wait_for_selector(".bk-tab", timeout=PATIENCE_MS)
        if view == "compare":
            want = expected_diff(specs, query["a"], query["b"])
            for css, value in want.items():
                wait_value(pg, lambda p, c=css: shown(p, f"diff-{c}"), value)
            checked += 1
        elif view == "runs-here" and query["host"] and query["host"] != "zen9":
            parts = query["host"].split("-")
            target = parts[-1]
            ok = specs["target"].astype(str).map(lambda t: archspec.cpu.TARGETS[t] <= archspec.cpu.TARGETS[target])
            if len(parts) == 3:
                ok &= (specs["platform"] == parts[0]) & (specs["os"] == parts[1])
            wait_value(pg, lambda p: shown(p, "runs-here-count"), int(ok.sum()))
            checked += 1
        elif view == "runs-here":
            pg.get_by_text("No host given").wait_for(timeout=PATIENCE_MS)
        elif query["q"].startswith("/"):
            want = int(specs["hash"].str.startswith(query["q"][1:]).sum())
            wait_value(pg, lambda p: shown(p, "find-exact-count"), want)
            checked += 1
        elif query["q"] in ("axl @@", "+mpi"):
            pg.locator(".find-error").wait_for(timeout=PATIENCE_MS)
        elif not query["q"]:
            pg.get_by_text("Paste something to look for.").wait_for(timeout=PATIENCE_MS)
        else:
            pg.locator("b.find-exact-count").wait_for(timeout=PATIENCE_MS)
        assert not pg.errors, (query, pg.errors)
    pg.screenshot(path=str(artifacts / "questions-walk-last.png"), full_page=True)
    assert checked >= 5
    assert not outside, outside


def test_compare_two_stacks(server, page, real_data):
    """The same view on two stacks (over every tag): counts from plain pandas."""
    pg = page
    open_view(pg, server, "view=compare&by=stack&a=e4s&b=hep", "b.diff-specs-added")
    ids = real_data.spec_stacks.groupby(real_data.spec_stacks["stack"].astype(str))["spec"].apply(set)
    specs = real_data.specs
    both = pd.concat([specs.iloc[sorted(ids["e4s"])].assign(tag="A"), specs.iloc[sorted(ids["hep"])].assign(tag="B")])
    want = expected_diff(both, "A", "B")
    for css, value in want.items():
        wait_value(pg, lambda p, c=css: shown(p, f"diff-{c}"), value)
    assert want["packages-added"] + want["packages-removed"] > 0
    # back to tags: the tag pair comes back, the URL says so
    pg.get_by_role("button", name="Two tags").click()
    want = expected_diff(specs, "develop-2025-03-30", "develop-2025-04-20")  # the default pair: the two newest snapshots
    for css, value in want.items():
        wait_value(pg, lambda p, c=css: shown(p, f"diff-{c}"), value)
    wait_value(pg, lambda p: p.locator(".tag-a select").input_value(), "develop-2025-03-30")
    assert not pg.errors, pg.errors


def test_the_app_when_every_mirror_fails(browser, tmp_path, artifacts):
    """An unreachable mirror and nothing cached: the app opens with zeros, every view
    works, and the problems card names the mirror and why."""
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}/mirror"
    proc = start_server(dead, port, env={STORE_ENV: str(tmp_path / "cache")})
    try:
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"http://127.0.0.1:{port}/")
        pg.get_by_text("Problems: 1").wait_for(timeout=PATIENCE_MS)
        wait_number(pg, "Specs", 0)
        pg.get_by_text("unreachable").first.wait_for(timeout=PATIENCE_MS)  # the card is open when there are problems
        pg.screenshot(path=str(artifacts / "mirror-unreachable.png"), full_page=True)
        for name in ("Runs here?", "What changed?", "Find my spec"):
            pg.locator(".bk-tab", has_text=name).click()
            pg.wait_for_timeout(800)
        pg.locator(".find-input textarea").fill("axl")
        pg.get_by_role("button", name="Find").click()
        wait_value(pg, lambda p: shown(p, "find-exact-count"), 0)
        assert not errors, errors
        pg.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "Traceback" not in proc.log.read_text()


#: Style sheets linked in the page and its shadow roots, by file name; the font size of
#: the question view's first heading.
SHEETS_JS = """() => { const per = {}; let heading = null; const walk = (r) => { for (const el of r.querySelectorAll('*')) {
  if (el.tagName === 'LINK' && el.rel === 'stylesheet') { const u = el.href.split('/').pop().split('?')[0]; per[u] = (per[u] || 0) + 1; }
  if (!heading && el.tagName === 'H3' && el.textContent.startsWith('What changed')) heading = getComputedStyle(el).fontSize;
  if (el.shadowRoot) walk(el.shadowRoot); } }; walk(document); return {per, heading}; }"""


def test_a_view_opened_from_its_tab_is_styled_as_when_opened_from_the_url(server, browser):
    """A question view built when its tab is first opened carries the style sheets the
    page's template gives a view built with the page (from a URL's ``view=``): the
    design's 221 kB Bootstrap sheet stays in the page's head, not in each component,
    and the headings have the same size."""
    seen = {}
    for how in ("url", "tab"):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        if how == "url":
            open_view(pg, server, "view=compare", "b.diff-specs-added")
        else:
            open_view(pg, server, "", "b.row-count")
            pg.locator(".bk-tab", has_text="What changed?").click()
            pg.wait_for_selector("b.diff-specs-added", timeout=PATIENCE_MS)
        wait_value(pg, lambda p: p.evaluate(SHEETS_JS)["heading"] is not None, True)
        seen[how] = pg.evaluate(SHEETS_JS)
        assert not errors, errors
        ctx.close()
    assert seen["url"]["per"]["bootstrap.min.css"] == 1  # the page's head: Panel's template
    assert seen["tab"]["per"]["bootstrap.min.css"] == seen["url"]["per"]["bootstrap.min.css"]
    assert seen["tab"]["heading"] == seen["url"]["heading"]
