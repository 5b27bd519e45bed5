"""The notebook runs headless, top to bottom, and shows the same app."""

from __future__ import annotations


import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT


@pytest.mark.parametrize("source", ["pages", "mirror"])
def test_notebook_executes(tmp_path, real_data, monkeypatch, source):
    """The same notebook, and the same numbers, on the pages and on a v3 mirror set made from them."""
    nb = nbformat.read(ROOT / "notebooks" / "explore.ipynb", as_version=4)
    monkeypatch.setenv("SPACK_CACHE_DASHBOARD_CACHE", str(tmp_path / "cache"))  # the kernel inherits it
    if source == "mirror":
        from benchmarks.mirrors import write_mirror_set

        monkeypatch.setenv("SPACK_CACHE_DASHBOARD_DATA", str(write_mirror_set(tmp_path / "mirrors")))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    outputs = {i: c.outputs for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    # the summary table lists the real tags; the dashboard cell renders a Panel model
    summary = "".join(o.get("data", {}).get("text/plain", "") for o in outputs[2])
    assert "develop-2025-03-30" in summary and "473" in summary
    app_mimes = {m for o in outputs[4] for m in o.get("data", {})}
    assert "application/vnd.holoviews_exec.v0+json" in app_mimes, app_mimes
    numbers = "".join(o.get("data", {}).get("text/plain", "") for o in outputs[6])
    from dashboard.domain import query as q

    want = q.compute(q.build_index(real_data), q.Selection(stack=("e4s",), os=("ubuntu22.04",))).numbers
    assert f"'specs': {want['specs']}" in numbers and f"'packages': {want['packages']}" in numbers

    # the questions: "will it run here" for zen3 on ubuntu22.04, counted here with archspec
    import archspec.cpu

    specs = real_data.specs
    runs = ((specs["platform"] == "linux") & (specs["os"] == "ubuntu22.04")
            & specs["target"].astype(str).map(lambda t: archspec.cpu.TARGETS[t] <= archspec.cpu.TARGETS["zen3"])).sum()
    texts = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert f"specs that run on linux-ubuntu22.04-zen3: {runs} of {len(specs)}" in texts

    # a selection that matches nothing (last cell): its headline, drawn, says so
    import json

    last = json.dumps([dict(o) for o in nb.cells[-1].outputs])
    assert "application/vnd.holoviews_exec.v0+json" in last and "No specs match this selection." in last
    assert "print(" not in "".join(nb.cells[-1].source)  # a notebook for people: no test checks printed
