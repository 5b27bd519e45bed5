"""The notebook in a real JupyterLab: run all, see the app, use a selector."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from dashboard.domain import query as q
from support import PATIENCE_MS, free_port, pick, table_rows, wait_started, wait_value

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 serving a copy of notebooks/ (so runs never edit the repo)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "explore.ipynb", root / "explore.ipynb")
    port = free_port()
    env = dict(os.environ, SPACK_CACHE_DASHBOARD_CACHE=str(root / ".cache"), JUPYTER_CONFIG_DIR=str(root / ".jupyter"), JUPYTER_RUNTIME_DIR=str(root / ".runtime"))
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        f"--ServerApp.root_dir={root}", "--IdentityProvider.token=", "--ServerApp.password=",
        "--LabApp.news_url=None", "--LabApp.extension_manager=readonly", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.workspaces_dir={root / '.ws'}", f"--LabApp.user_settings_dir={root / '.settings'}",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=open(root / "lab.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_started(proc, f"{url}/api/status", root / "lab.log", "JupyterLab")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_notebook_runs_in_jupyterlab(jupyterlab, browser, real_data, artifacts):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1200})
    outside = []
    # nothing leaves the machine: only the local JupyterLab is reachable
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(jupyterlab) else (outside.append(r.request.url), r.abort()))
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(f"{jupyterlab}/lab/tree/explore.ipynb")
    pg.wait_for_selector(".jp-Notebook .jp-Cell", timeout=PATIENCE_MS)
    pg.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=PATIENCE_MS)
    pg.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=PATIENCE_MS)
    pg.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    pg.locator("li[data-command='runmenu:run-all']").click()
    # JupyterLab may still ask which kernel to use: take the notebook's own
    dialog = pg.locator(".jp-Dialog", has_text="Select Kernel")
    rendered = pg.locator(".jp-OutputArea .tabulator-row")
    # the app renders in the output area: selectors, numbers, heatmap and spec table
    try:
        dialog.or_(rendered).first.wait_for(timeout=PATIENCE_MS)  # whichever comes first
        if dialog.count():
            dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        rendered.first.wait_for(timeout=PATIENCE_MS)
    except Exception:
        pg.screenshot(path=str(artifacts / "jupyterlab-failed.png"), full_page=True)
        raise AssertionError(f"no table rendered; page errors: {errors}")
    out = pg.locator(".jp-OutputArea").filter(has=pg.locator(".tabulator"))
    assert out.locator("input.choices__input--cloned").count() == 5
    assert out.locator("canvas").count() >= 1
    wait_value(out, table_rows, len(real_data.specs))
    # every code cell ran (the kernel takes a pick's message once the cells are done)
    pg.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=PATIENCE_MS)
    # a selector works in JupyterLab too: the table follows it (clicked once the option
    # shows its spec count, as a person reads it before clicking)
    want = q.compute(q.build_index(real_data), q.Selection(stack=("e4s",)))
    out.scroll_into_view_if_needed()
    pick(pg, 1, "e4s", within=out, count=want.numbers["specs"])
    wait_value(out, table_rows, want.numbers["specs"])
    stacks = out.locator("div.tabulator-row div.tabulator-cell[tabulator-field='stacks']").all_inner_texts()
    assert stacks and all("e4s" in s.split(", ") for s in stacks)
    # none of them with an error
    assert pg.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Traceback").count() == 0
    assert pg.locator(".jp-RenderedText", has_text="Error").count() == 0
    out.screenshot(path=str(artifacts / "jupyterlab-app.png"))
    pg.screenshot(path=str(artifacts / "jupyterlab.png"))
    assert not errors, errors
    # BokehJS, Panel and Tabulator are inline (pn.extension(inline=True)); Panel still
    # links a few optional extras (theme CSS, luxon, es-module-shims) to its CDN in
    # notebooks.  They were blocked here and the app above worked without them.
    print("blocked:", *outside, sep="\n  ")
    assert all("/panel/" in u and "bokeh" not in u for u in outside), outside
    ctx.close()
