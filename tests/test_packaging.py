"""The project's install files agree with each other, and the private Panel/Bokeh hooks
the dashboard overrides (where those libraries have no public API) still exist."""

from __future__ import annotations

import importlib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")


def test_environment_yml_has_the_packages_and_bounds_of_pyproject():
    """environment.yml (conda) read by PyYAML, pyproject.toml by tomllib, each
    requirement parsed by ``packaging``: same names, same version bounds, same Python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str) and d != "pip"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    python = [d for d in conda if Requirement(d).name == "python"]
    assert [Requirement(p).specifier for p in python] == [SpecifierSet(project["requires-python"])]
    packages = [d for d in conda if Requirement(d).name != "python"] + [d for d in pip if not d.startswith("-e")]
    got = {Requirement(d).name: Requirement(d).specifier for d in packages}
    want = {Requirement(d).name: Requirement(d).specifier for d in project["dependencies"]}
    assert got == want and len(packages) == len(want)
    assert pip[-1] == '-e ".[test]"'


#: Private methods the dashboard overrides, each where the library has no public way to
#: do the same (docs/development.md says why each is needed); the upper bounds in
#: pyproject.toml stop before the next major release.  A release that drops one fails
#: here first (``SCD_DEPS=newest bash .ci/run``) instead of in a user's session.
PRIVATE_HOOKS = [
    ("panel.widgets", "MultiChoice", "_server_change"),  # dashboard.ui.components.Choice: a pick applied at once
    ("panel.widgets", "MultiChoice", "_change_event"),
    ("panel.widgets", "Tabulator", "_update_index_mapping"),  # dashboard.ui.views.VersionSortedTabulator
    ("panel.widgets", "Tabulator", "_sort_df"),
    ("panel.widgets", "Tabulator", "_get_configuration"),
    ("panel.pane", "HTML", "_update"),  # dashboard.ui.views.TextPane
    ("panel.reactive", "Reactive", "_update_properties"),  # dashboard.ui.views.ChangesSkipDesign
    ("panel.reactive", "Reactive", "_process_param_change"),
    ("panel.io.resources", None, "_panel_use_mathjax"),  # dashboard.app.serve_without_mathjax
    ("panel.io.server", None, "bundle_resources"),  # dashboard.app.serve_without_webgl
    ("bokeh.resources", "Resources", "_collect_external_resources"),  # dashboard.export._BokehInline
    ("numpy._core.multiarray", None, "_set_madvise_hugepage"),  # dashboard.core.schema.no_huge_page_advice
]


@pytest.mark.parametrize(("module", "cls", "name"), PRIVATE_HOOKS, ids=[f"{c or m}.{n}" for m, c, n in PRIVATE_HOOKS])
def test_the_private_hooks_the_dashboard_overrides_still_exist(module, cls, name):
    owner = importlib.import_module(module)
    owner = getattr(owner, cls) if cls else owner
    assert callable(getattr(owner, name, None)), f"{module}.{cls or ''}.{name} is gone: see docs/development.md"


def test_readme_opens_with_the_two_commands_and_stays_short():
    """The README opens with exactly the two set-up commands (serve the embedded real
    pages; the tests via .ci/run, which .ci/run itself carries out) and stays under
    250 lines; it says nothing about how it was built."""
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) < 250
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    commands = [line.split("#", 1)[0].strip() for line in block]
    assert commands == ["pip install -e . && spack-cache-dashboard serve --show", "bash .ci/run"]
    assert lines[0].startswith("# ") and lines[1:3] == ["", "```bash"]  # the first thing after the title
    for word in ("this stop", "tried and dropped", "review"):
        assert word not in text.lower()
