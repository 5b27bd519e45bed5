"""Accessibility audit: axe-core (the npm package pinned in ``tests/a11y/package.json``,
installed by ``.ci/run``) injected by Playwright into every view of the served app and
into the exported file; no serious or critical violation may remain.  axe is the
oracle here: the rules and their impact levels are its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REAL_PAGES, ROOT
from support import PATIENCE_MS

AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
VIEWS = ["Overview", "Runs here?", "What changed?", "Why rebuilt?", "Storage", "Find my spec"]
#: axe's impact levels that fail the audit.
BLOCKING = ("serious", "critical")
#: True once a11y_roles.js has marked every drawn Tabulator body, slider handle and spinner button.
MARKED = """() => { const all = []; const walk = (r) => { all.push(r); r.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); }); };
  walk(document);
  const bodies = all.flatMap(r => Array.from(r.querySelectorAll('.tabulator > .tabulator-tableholder')));
  const handles = all.flatMap(r => Array.from(r.querySelectorAll('.noUi-handle, .bk-spin-btn-up, .bk-spin-btn-down')));
  return bodies.length > 0 && bodies.every(b => b.getAttribute('role') === 'rowgroup') && handles.every(h => h.hasAttribute('aria-label')); }"""


def audit(pg) -> list[dict]:
    """Run axe on the page as it is; the serious and critical violations, each with
    its rule, impact, help text and the first few offending nodes."""
    if not pg.evaluate("() => typeof window.axe !== 'undefined'"):
        pg.add_script_tag(path=str(AXE))
    found = pg.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' > '))}))")
    return [v for v in found if v["impact"] in BLOCKING]


@pytest.fixture(scope="module", autouse=True)
def _axe_installed():
    assert AXE.exists(), f"{AXE} missing: run `npm ci --prefix tests/a11y` (.ci/run does)"


@pytest.mark.parametrize(("view", "query"), [(v, "") for v in VIEWS] + [("Overview", "?theme=dark")])
def test_each_view_of_the_served_app_has_no_serious_violation(server, page, artifacts, view, query):
    pg = page
    pg.goto(server + query, timeout=PATIENCE_MS)
    pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
    if view != "Overview":
        pg.get_by_role("tab", name=view).click()
        pg.get_by_role("tab", name=view, selected=True).wait_for(timeout=PATIENCE_MS)
        pg.wait_for_load_state("networkidle")
    # the page's own marks (dashboard/static/a11y_roles.js) are part of what is audited: wait for them
    pg.wait_for_function(MARKED, timeout=PATIENCE_MS)
    found = audit(pg)
    pg.screenshot(path=str(artifacts / f"a11y-{view.strip('?').replace(' ', '-').lower()}{'-dark' if query else ''}.png"))
    assert found == [], json.dumps(found, indent=1)


def test_the_exported_file_has_no_serious_violation(browser, tmp_path, artifacts):
    out = tmp_path / "cache.html"
    res = subprocess.run([sys.executable, "-m", "dashboard.cli", "export", str(out), "--data", str(REAL_PAGES), "--no-cache"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    ctx = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.goto(out.as_uri())
    pg.wait_for_function("() => { const m = window.Bokeh && Bokeh.documents[0] && Bokeh.documents[0].get_model_by_name('numbers');"
                         " return m && m.tags.length > 0; }", timeout=PATIENCE_MS)
    pg.wait_for_selector(".bk-btn-primary", timeout=PATIENCE_MS)
    found = audit(pg)
    pg.screenshot(path=str(artifacts / "a11y-export.png"))
    ctx.close()
    assert found == [], json.dumps(found, indent=1)
