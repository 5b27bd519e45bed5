"""The dashboard's state object without a browser: URL query state."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from dashboard import query as q
from dashboard.state import DashboardState


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
