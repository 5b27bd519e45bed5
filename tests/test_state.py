"""The dashboard's state object without a browser: URL query state."""

from __future__ import annotations

import gc
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


def _dead_block_references(frame) -> int:
    """Dead weak references pandas' copy-on-write keeps on ``frame``'s blocks (the
    liveness is Python's own: a weak reference whose object is gone returns None)."""
    return sum(1 for block in frame._mgr.blocks for ref in block.refs.referenced_blocks if ref() is None)


def test_trim_memory_drops_what_closed_sessions_left_on_the_shared_frames(real_data):
    from dashboard.app import trim_memory

    # sessions over the shared data, each picking and then gone
    for tag in real_data.tags[:12]:
        state = DashboardState(real_data)
        state.param.update(tag=[tag])
        state.param.update(stack=[state.result.options["stack"]["value"].iloc[0]])
        del state
    gc.collect()  # the sessions' views gone (a session's objects refer to each other)
    assert _dead_block_references(real_data.specs) > 0  # what pandas leaves behind by itself
    trim_memory()
    assert _dead_block_references(real_data.specs) == 0


def test_trim_memory_keeps_the_live_views_copy_on_write(real_data):
    from dashboard.app import trim_memory

    specs = real_data.specs.copy()  # a frame of this test's own
    first = specs["hash"].iloc[0]
    kept = specs["hash"]  # a live view
    gone = [specs.iloc[: i + 1] for i in range(200)]
    del gone
    trim_memory()
    assert _dead_block_references(specs) == 0
    # pandas still knows the view shares the block: writing to it copies, the frame is unchanged
    kept.iloc[0] = "written-through-the-view"
    assert specs["hash"].iloc[0] == first
