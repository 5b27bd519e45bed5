"""View builders without a browser: an updated heatmap draws what a new one would."""

from __future__ import annotations

import math

import holoviews as hv
import pytest

from dashboard.domain import query as q
from dashboard.ui import views
from dashboard.core.terms import stack_order

hv.extension("bokeh")


def drawn(fig, x: str = "stack", y: str = "package") -> dict:
    """What a heatmap figure shows: factors, title, colour range, and its cells (x, y) -> specs."""
    source = views.heatmap_cells(fig)
    data = source.data
    cells = {
        (str(a), str(b)): int(z)
        for a, b, z in zip(data[x], data[y], data["zvalues"])
        if not (isinstance(z, float) and math.isnan(z))
    }
    bar = next(r for r in fig.right if hasattr(r, "color_mapper"))
    factors = lambda r: [f for f in r.factors if not views.is_blank_row(f)]  # an empty plot keeps a blank factor; empty rows
    return {"x": factors(fig.x_range), "y": factors(fig.y_range), "title": fig.title.text, "high": bar.color_mapper.high, "cells": cells}


@pytest.mark.parametrize("top_n", [5, 30])
def test_an_updated_heatmap_draws_what_a_new_one_draws(real_data, top_n):
    index = q.build_index(real_data)
    selections = [q.Selection(), q.Selection(os=("ubuntu22.04",)), q.Selection(package="zzz"), q.Selection(stack=("e4s", "root")), q.Selection()]

    def args(counts):
        return dict(y_order=list(dict.fromkeys(counts["package"])), x_order=stack_order(counts["stack"]), height=400)

    first = q.compute(index, selections[0], top_n).package_stack
    fig = views.heatmap_figure(views.heatmap(first, "stack", "package", "Specs", **args(first)))
    for sel in selections[1:]:
        counts = q.compute(index, sel, top_n).package_stack
        views.update_heatmap(fig, counts, "stack", "package", "Specs", **args(counts))
        fresh = views.heatmap_figure(views.heatmap(counts, "stack", "package", "Specs", **args(counts)))
        assert drawn(fig) == drawn(fresh), sel
        assert fig.height == fresh.height == 400
        assert drawn(fig)["cells"] == {(s, p): c for p, s, c in counts[["package", "stack", "count"]].itertuples(index=False)}


def test_package_plot_keeps_its_height_and_puts_empty_rows_below_the_packages(real_data):
    """A pick that shows fewer packages leaves the plot's height as it was (a height change
    lays the whole page out again in the browser): the packages stay on top, in the
    table's order, each at the size it had, and empty rows fill the rest, up to 30 rows."""
    from dashboard.ui.components import Heatmaps
    from dashboard.ui.state import DashboardState

    state = DashboardState(real_data)
    heatmaps = Heatmaps(state=state)
    fig = heatmaps.figures["package_stack"]
    height, slots = fig.height, len(fig.y_range.factors)
    assert slots == state.top_n
    specs = real_data.specs
    few = specs.groupby("package", observed=True).size().sort_values().index[:2].tolist()  # pandas: two packages
    for selection in [dict(package=few[0]), dict(package="zzz-no-such-package"), dict(package="")]:
        state.param.update(**selection)
        shown = state.result.package_stack["package"].astype(str).drop_duplicates().tolist()
        factors = list(fig.y_range.factors)
        assert fig.height == height and len(factors) == slots, selection
        named = [f for f in factors if not views.is_blank_row(f)]
        assert named == shown[::-1], selection  # Bokeh lists factors from the bottom up
        assert factors[len(factors) - len(named):] == named, selection  # empty rows below
        expected = sorted(specs.loc[specs["package"].astype(str).str.contains(selection["package"], regex=False), "package"].astype(str).unique())
        if len(expected) <= state.top_n:
            assert sorted(named) == expected, selection
        else:
            assert len(named) == state.top_n, selection
    # a larger top N grows the plot for the packages shown, but empty rows stay at 30
    n_packages = specs["package"].nunique()
    state.param.update(top_n=100, package="")
    assert len(fig.y_range.factors) == min(100, n_packages) > 30
    assert not any(views.is_blank_row(f) for f in fig.y_range.factors)
    state.param.update(package=few[0])
    assert len(fig.y_range.factors) == 30 and fig.height == height


@pytest.mark.parametrize("selection", [{}, {"os": ["ubuntu22.04"]}, {"stack": ["e4s"], "tag": ["develop"]}, {"package": "zzz"}])
def test_the_dashboards_heatmaps_draw_what_holoviews_draws_of_all_counts(real_data, selection):
    """The dashboard plans each heatmap from one cell and draws the counts into it: the
    same figure as HoloViews drawing every count, for each of the three heatmaps."""
    from dashboard.ui.components import Heatmaps
    from dashboard.ui.state import DashboardState
    from dashboard.core.terms import HEATMAPS

    state = DashboardState(real_data)
    state.param.update(**selection)
    heatmaps = Heatmaps(state=state)
    for h in HEATMAPS:
        heatmaps.picker.value = h.name  # drawn when first shown
        fig, counts = heatmaps.figures[h.result], getattr(state.result, h.result)
        args = heatmaps._layout_args(h, counts)
        fresh = views.heatmap_figure(views.heatmap(counts, h.x, h.y, h.title, **args))
        assert drawn(fig, h.x, h.y) == drawn(fresh, h.x, h.y), (h.name, selection)
        assert (fig.height, fig.min_width) == (fresh.height, fresh.min_width) == (args["height"], args["min_width"])
        assert drawn(fig, h.x, h.y)["cells"] == {(str(a), str(b)): c for a, b, c in counts[[h.x, h.y, "count"]].itertuples(index=False)}


def test_problems_card_lists_problems_in_a_table_and_says_so_when_there_are_none(real_data, pages_copy):
    """The real pages load without problems: the card says so (no table, collapsed). A
    truncated page is a row of the card's table, open."""
    import panel as pn

    from dashboard.ui.components import Problems
    from dashboard.load import load
    from dashboard.ui.state import DashboardState

    clean = Problems(state=DashboardState(real_data)).__panel__()
    assert real_data.problems.empty and clean.collapsed
    assert [type(o) for o in clean.objects] == [pn.pane.Markdown]
    assert clean.title.startswith("Problems: 0")

    page = next(pages_copy.glob("*/*/specs.md"))
    page.write_text(page.read_text()[:200])  # cut inside the front matter
    broken = load(pages_copy, cache_dir=pages_copy.parent / "store")
    card = Problems(state=DashboardState(broken)).__panel__()
    table = card.objects[0]
    assert not card.collapsed and isinstance(table, pn.widgets.Tabulator)
    assert len(table.value) == len(broken.problems) >= 1
    assert str(page.relative_to(pages_copy)) in " ".join(table.value["path"].astype(str))


def test_a_question_view_shows_a_busy_spinner_until_built(real_data, monkeypatch):
    """The first open of a question view puts a spinner in its tab and builds the view
    only in the next step (after the spinner is drawn, in a served page); once built,
    the tab holds the view and a second open builds nothing."""
    import panel as pn

    import dashboard.app as app
    from dashboard.ui.questions import CompareView

    waiting = []
    monkeypatch.setattr(app, "after_drawn", waiting.append)  # what a served page runs 200 ms later
    dash = app.CacheDashboard(real_data)
    dash.state.view = "compare"
    slot = dash._slots["compare"]
    assert len(waiting) == 1 and isinstance(slot[0], pn.Row)
    assert any(isinstance(o, pn.indicators.LoadingSpinner) and o.value for o in slot[0])
    assert "What changed?" in slot[0][1].object
    waiting.pop()()
    built = slot[0]  # the view's layout (Panel lays a Viewer out as its __panel__)
    assert isinstance(dash.questions["compare"], CompareView) and not isinstance(built, pn.Row)
    assert not any(isinstance(o, pn.indicators.LoadingSpinner) for o in built.select())
    dash.state.view = "overview"
    dash.state.view = "compare"
    assert not waiting and slot[0] is built


def test_relabelling_a_picked_selector_does_not_compute_the_answer_again(real_data):
    """After a pick, the selectors' counts are relabelled, and a selector holding a value
    whose label changed sends that value again (the browser drops a chosen value whose
    label changed): that is no new selection, so each pick computes its answer once;
    the answer is pandas' count."""
    from dashboard.ui.components import Selectors
    from dashboard.ui.state import DashboardState

    pending = []
    state = DashboardState(real_data, later=pending.append)
    selectors = Selectors(state=state)
    answers, resent = [], []
    state.param.watch(lambda e: answers.append(e.new), "result")
    selectors.widgets["os"].param.watch(lambda e: resent.append(e.new), "value", onlychanged=False)
    specs, stacks = real_data.specs, real_data.spec_stacks
    os_name = "ubuntu22.04"
    selectors.widgets["os"].value = [os_name]
    while pending:
        pending.pop()()
    on_os = stacks[stacks["spec"].isin(specs.index[specs["os"] == os_name])]
    stack = str(on_os["stack"].value_counts().index[-1])  # a small stack: the OS counts under it change
    selectors.widgets["stack"].value = [stack]
    while pending:
        pending.pop()()
    assert len(answers) == 2, f"{len(answers)} answers computed for 2 picks"
    assert "os" in state.relabelled and resent[-1] == [os_name]  # the OS value was sent again
    want = set(stacks.loc[stacks["stack"] == stack, "spec"]) & set(specs.index[specs["os"] == os_name])
    assert state.result.numbers["specs"] == len(want)
    assert selectors.widgets["os"].value == [os_name] and selectors.widgets["stack"].value == [stack]


def test_size_line_sums_the_known_sizes_and_counts_the_unknown():
    """The headline's size line: the selection's known sizes summed and the specs of
    unknown size counted, by pandas over the binaries, for a Spack-written mirror read
    with its sizes of which every other binary's size is then made unknown."""
    import pandas as pd

    from dashboard.core.terms import human_bytes
    from dashboard.load import load
    from dashboard.ui.components import Headline
    from dashboard.ui.state import DashboardState
    from test_everyday import SPACK

    data = load(SPACK, cache=False, sizes=True)
    assert data.specs["size"].notna().all()  # Spack wrote every size
    data.specs.loc[data.specs.index[::2], "size"] = pd.NA
    state = DashboardState(data)
    headline = Headline(state=state)
    for package in [None, *sorted(data.specs["package"].astype(str).unique())[:3]]:
        if package is not None:
            state.package = package
        chosen = data.specs if package is None else data.specs[data.specs["package"].astype(str).str.contains(package, regex=False)]
        known = chosen["size"].dropna()
        unknown = len(chosen) - len(known)
        text = (f"<b>Size</b> {human_bytes(int(known.sum()))} in {len(known):,} binaries" + (f"; {unknown:,} of unknown size" if unknown else "")
                if len(known) else f"<b>Size</b> unknown ({unknown:,} binaries; pages write \"-\" and mirrors need --sizes)")
        assert headline.size_line.object.startswith(text), (package, headline.size_line.object)


def test_a_pick_sends_the_numbers_without_asking_the_design(real_data, monkeypatch):
    """A pick's changes (headline numbers, row count, selector labels) reach the
    browser's models without Panel's design being asked for style sheets (each asking
    resolves theme files on disk); what they send is what Panel's own path sends, and
    the numbers shown are pandas' counts."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc
    from panel.reactive import Reactive
    from panel.theme.base import Design

    from dashboard.app import CacheDashboard

    doc = Document()
    with set_curdoc(doc):
        dash = CacheDashboard(real_data)
        root = pn.panel(dash).get_root(doc)
        doc.add_root(root)
        asked = []
        real_params = Design.params
        monkeypatch.setattr(Design, "params", lambda self, *a, **k: asked.append(type(a[0]).__name__) or real_params(self, *a, **k))
        specs = real_data.specs
        os_name = str(specs["os"].value_counts().index[-1])
        widget = dash.selectors.widgets["os"]
        # what Panel's own path would send for the same change, design asked
        event = type("Event", (), {"name": "value", "new": [os_name]})()
        panel_sends = Reactive._update_properties(widget, event, doc=doc)
        asked.clear()
        assert widget._update_properties(event, doc=doc) == panel_sends
        widget.value = [os_name]
    assert asked == [], f"the design was asked {len(asked)} times: {sorted(set(asked))}"
    want = int((specs["os"] == os_name).sum())
    number = dash.headline.numbers["specs"]
    assert f"{want:,}" in number._models[root.ref["id"]][0].text
    row_count = dash.specs.row_count
    assert f">{want:,}</b>" in row_count._models[root.ref["id"]][0].text.replace("&gt;", ">").replace("&lt;", "<")
    # the text pane's model holds what Panel's HTML pane makes of the same text
    plain = pn.pane.HTML(row_count.object)
    assert row_count._models[root.ref["id"]][0].text == plain.get_root(Document()).text
