"""The dashboard's state object without a browser: URL query state."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from dashboard.domain import query as q
from dashboard.ui.state import DashboardState


def test_url_query_round_trip(real_data):
    state = DashboardState(real_data)
    assert state.url_query() == []
    tags = list(real_data.tags[:2])
    state.param.update(tag=tags, stack=["e4s"], package="py-", cell=("py-build", "e4s"))
    url = urlencode(state.url_query())
    fresh = DashboardState(real_data)
    assert fresh.apply_url_query(parse_qs(url)) == []
    assert fresh.selection == state.selection
    want = q.compute(q.build_index(real_data), q.Selection(tag=tuple(tags), stack=("e4s",), package="py-", cell=("py-build", "e4s")))
    assert fresh.result.numbers == want.numbers


def test_unknown_url_values_are_ignored_with_a_notice(real_data):
    state = DashboardState(real_data)
    # session_args give bytes; commas separate values typed by hand
    notices = state.apply_url_query({"os": [b"ubuntu22.04,plan9"], "stack": ["<b>nope</b>"], "cell": ["zlib,e4s"], "bokeh-session-id": ["x"]})
    assert state.os == ["ubuntu22.04"] and state.stack == [] and state.cell is None
    assert len(notices) == 3
    assert any("plan9" in n for n in notices) and any("<b>nope</b>" in n for n in notices) and any("zlib,e4s" in n for n in notices)
    specs = real_data.specs
    assert state.result.numbers["specs"] == int((specs["os"] == "ubuntu22.04").sum())


def test_option_counts_follow_the_result_when_later_runs(real_data):
    """With a ``later`` that holds callables back (the served app waits for the browser
    to draw), a change sets ``result`` at once and the selectors' labelled options only
    when ``later`` runs them; several changes meanwhile need one relabelling."""
    pending = []
    state = DashboardState(real_data, later=pending.append)
    assert not pending  # the first labels are set while building, at once
    index = q.build_index(real_data)
    os_name = str(index.categories["os"][0])
    labels_before = dict(state.param["stack"].objects)
    relabelled = []
    state.param.watch(lambda e: relabelled.append(set(state.relabelled)), "relabelled")

    state.os = [os_name]
    want = q.compute(index, q.Selection(os=(os_name,)))
    assert state.result.numbers == want.numbers  # the answer is there at once
    assert dict(state.param["stack"].objects) == labels_before  # the counts are not yet
    state.top_n = 10  # a second change before the counts went out
    assert len(pending) == 1 and not relabelled

    pending.pop()()
    counts = want.options["stack"].set_index("value")["specs"]
    assert {v: label for label, v in state.param["stack"].objects.items()} == {v: f"{v} ({n:,})" for v, n in counts.items()}
    assert relabelled and "stack" in relabelled[-1] and "os" not in relabelled[-1]  # its own counts do not change
    assert labels_before != dict(state.param["stack"].objects)


def test_without_later_the_counts_come_with_the_result(real_data):
    state = DashboardState(real_data)
    index = q.build_index(real_data)
    os_name = str(index.categories["os"][0])
    state.os = [os_name]
    counts = q.compute(index, q.Selection(os=(os_name,))).options["stack"].set_index("value")["specs"]
    assert {v: label for label, v in state.param["stack"].objects.items()} == {v: f"{v} ({n:,})" for v, n in counts.items()}
