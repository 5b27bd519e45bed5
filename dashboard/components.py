"""The dashboard's parts, each a Panel :class:`~panel.viewable.Viewer` bound to one
:class:`~dashboard.state.DashboardState`: selectors, headline numbers, heatmaps,
spec table, problems.  Each builds its widgets once and updates them in place
when ``state.result`` changes (``@param.depends(..., watch=True)``); none
reaches into another.  New views are new components.
"""

from __future__ import annotations

import asyncio
import html
import io
import tempfile
import time
from pathlib import Path

import holoviews as hv
import pandas as pd
import panel as pn
import param

from dashboard import compat, howto, query, views
from dashboard.export import export_html
from dashboard.state import DashboardState
from dashboard.terms import DIMENSIONS, HEADLINE, HEATMAPS, LABELS, ROOT_NOTE, stack_order


class Component(pn.viewable.Viewer):
    """A part of the dashboard bound to the session's state."""

    state = param.ClassSelector(class_=DashboardState, doc="the session's one state object")


class Selectors(Component):
    """Sidebar: name search (applied while typing), one multi-choice per dimension
    (options with spec counts under the other selections), top-N slider, reset."""

    #: Seconds the name search waits after the last key before it applies.
    SEARCH_DEBOUNCE_S = 0.3
    #: Seconds during which the browser's copy of a search text set from Python is an echo.
    ECHO_S = 5.0

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        self.widgets = {
            dim: pn.widgets.MultiChoice.from_param(s.param[dim], placeholder="all", solid=False, name=LABELS[dim])
            for dim in DIMENSIONS
        }
        self.widgets["stack"].description = "root = the tag's top-level mirror, holding every spec of the tag"
        self.widgets["version"].description = "Newest first (Spack's order); each version names the packages that have it"
        self.search = pn.widgets.TextInput.from_param(s.param.package, placeholder="e.g. py-", name="Package name contains")
        self._pushed_at: dict[str, float] = {}
        self.search.param.watch(self._typed, "value_input")
        self.top_n = pn.widgets.IntSlider.from_param(s.param.top_n, step=5)
        self.reset = pn.widgets.Button(name="Clear all filters", button_type="light", on_click=lambda e: s.clear())
        self._layout = pn.Column(self.search, *self.widgets.values(), self.top_n, self.reset, sizing_mode="stretch_width")

    @param.depends("state.package", watch=True)
    def _pushed(self):
        """Remember when the search text was set from Python (URL, *Clear all filters*,
        a notebook cell): the browser echoes it back as typed text, maybe late."""
        self._pushed_at[self.state.package] = time.monotonic()

    async def _typed(self, event):
        """Apply the name search while typing, once no key came for :attr:`SEARCH_DEBOUNCE_S`;
        an echo of a value set from Python is not typing (it would undo a later change)."""
        if time.monotonic() - self._pushed_at.get(event.new, -1e9) < self.ECHO_S:
            return
        await asyncio.sleep(self.SEARCH_DEBOUNCE_S)
        if self.search.value_input == event.new and self.state.package != event.new:
            self.state.package = event.new or ""

    @param.depends("state.result", watch=True)
    def _relabel(self):
        # option labels carry counts: re-send the value so the browser gets the
        # selected values' new labels (otherwise it drops them from the box).
        # Only once the widget holds the state's value: else the widget -> state
        # link would write its stale value back.
        for dim, widget in self.widgets.items():
            if widget.value and list(widget.value) == list(getattr(self.state, dim)):
                widget.param.trigger("value")

    def __panel__(self):
        return self._layout


class Headline(Component):
    """Headline numbers (packages, specs, stacks, tags) and, when nothing matches,
    a note with a *Clear all filters* button."""

    def __init__(self, **params):
        super().__init__(**params)
        self.numbers = {
            key: pn.indicators.Number(name=label, value=0, format="{value:,}", font_size="28pt", title_size="11pt")
            for key, label in HEADLINE.items()
        }
        self.empty_note = pn.Row(
            pn.pane.HTML("<b>No specs match this selection.</b> Remove a filter, or clear them all.", css_classes=["empty-note"]),
            pn.widgets.Button(name="Clear all filters", button_type="warning", on_click=lambda e: self.state.clear(), width=160),
            visible=False,
            styles={"background": "#fff4e5", "border-radius": "4px"},
            sizing_mode="stretch_width",
        )
        self._layout = pn.Column(pn.FlexBox(*self.numbers.values()), self.empty_note, sizing_mode="stretch_width")
        self._update()

    @param.depends("state.result", watch=True)
    def _update(self):
        numbers = self.state.result.numbers
        for key, number in self.numbers.items():
            number.value = numbers[key]
        self.empty_note.visible = numbers["specs"] == 0

    def __panel__(self):
        return self._layout


class Heatmaps(Component):
    """The heatmap views (:data:`dashboard.terms.HEATMAPS`), one shown at a time.

    Each is a DynamicMap fed through a Pipe: a selection change sends new counts
    to the existing plot.  The package x stack plot is rebuilt when its number
    of packages (its height) changes, and outlines the clicked cell; clicking
    a cell there sets ``state.cell``, on OS x target it selects that OS and target.
    """

    def __init__(self, **params):
        super().__init__(**params)
        s, cats = self.state, self.state.index.categories
        r = s.result
        self._pipes = {h.result: hv.streams.Pipe(data=getattr(r, h.result)) for h in HEATMAPS}
        self._cell_pipe = hv.streams.Pipe(data=self._cell_frame())
        spec = {h.result: h for h in HEATMAPS}
        # sizes from every category of the data: a plot keeps its size while the selection changes
        sizes = {
            name: dict(
                height=views.heatmap_height(len(cats[spec[name].y]), views.longest(cats[spec[name].x])),
                min_width=views.heatmap_min_width(len(cats[spec[name].x]), views.longest(cats[spec[name].y])),
            )
            for name in ("os_target", "stack_tag")
        }
        ot, st = spec["os_target"], spec["stack_tag"]
        ot_plot = hv.DynamicMap(lambda data: views.heatmap(data, ot.x, ot.y, ot.title, **sizes["os_target"]), streams=[self._pipes["os_target"]])
        st_plot = hv.DynamicMap(
            lambda data: views.heatmap(data, st.x, st.y, st.title, y_order=stack_order(data[st.y]), **sizes["stack_tag"]),
            streams=[self._pipes["stack_tag"]],
        )
        self._taps: list[hv.streams.Stream] = [hv.streams.Tap(source=ot_plot)]
        self._taps[0].add_subscriber(self._tap_os_target)
        self.panes = {
            "package_stack": pn.pane.HoloViews(sizing_mode="stretch_width", name="package x stack"),
            "os_target": pn.pane.HoloViews(ot_plot, sizing_mode="stretch_width", name="OS x target", height=sizes["os_target"]["height"] + 10),
            "stack_tag": pn.pane.HoloViews(st_plot, sizing_mode="stretch_width", name="stack x tag", height=sizes["stack_tag"]["height"] + 10),
        }
        self._package_rows = None
        self._stale: set[str] = set()  # hidden heatmaps are not redrawn until shown
        # visibility is toggled on a Column around each pane: toggling it on the HoloViews
        # pane itself trips Panel's style sync under the Bootstrap design
        self._views = {
            h.name: pn.Column(self.panes[h.result], sizing_mode="stretch_width", margin=0, styles={"overflow-x": "auto", "min-width": "0", "max-width": "100%"})
            for h in HEATMAPS
        }
        self.picker = pn.widgets.RadioButtonGroup(
            options=[h.name for h in HEATMAPS], value=HEATMAPS[0].name, button_type="primary", button_style="outline", name="heatmap"
        )
        self.picker.param.watch(self._show, "value")
        self._show()
        self._layout = pn.Column(
            self.picker, *self._views.values(),
            pn.pane.HTML(f"<small>{html.escape(ROOT_NOTE)}</small>", sizing_mode="stretch_width", css_classes=["root-note"]),
            sizing_mode="stretch_width",
        )
        self._redraw()

    def _show(self, *_):
        for name, view in self._views.items():
            view.visible = name == self.picker.value
        if self._stale:  # the view now shown missed updates while hidden
            self._redraw()

    def _shown(self) -> str:
        """``result`` name of the heatmap on screen."""
        return next(h.result for h in HEATMAPS if h.name == self.picker.value)

    def _tap_cell(self, x=None, y=None):
        if x is not None and y is not None:
            self.state.cell = (str(y), str(x))

    def _tap_os_target(self, x=None, y=None):
        if x is not None and y is not None:
            self.state.param.update(os=[str(y)], target=[str(x)])

    def _cell_frame(self) -> pd.DataFrame:
        """The clicked cell as a one-row frame (``stack``, ``package``), if it is drawn."""
        cell, shown = self.state.cell, self.state.result.package_stack
        if cell and ((shown["package"] == cell[0]) & (shown["stack"] == cell[1])).any():
            return pd.DataFrame({"stack": [cell[1]], "package": [cell[0]]})
        return pd.DataFrame({"stack": pd.Series([], dtype=str), "package": pd.Series([], dtype=str)})

    def _rows_bucket(self, rows: int) -> int:
        """Rows the package x stack plot is sized for: the smallest of 5, 10, 20 and
        top N that holds ``rows``.  Rebuilding the plot costs ~0.3 s, so it happens
        only when a selection crosses a bucket, not at every change of row count."""
        return next((b for b in (5, 10, 20) if rows <= b < self.state.top_n), max(self.state.top_n, rows))

    def _package_plot(self, rows: int) -> None:
        """(Re)build the package x stack DynamicMap sized for ``rows`` packages (its height)."""
        h, cats = HEATMAPS[0], self.state.index.categories
        height = views.heatmap_height(rows, views.longest(cats[h.x]))
        min_width = views.heatmap_min_width(len(cats[h.x]), views.longest(cats[h.y]))
        plot = hv.DynamicMap(
            lambda data: views.heatmap(
                data, h.x, h.y, h.title, y_order=list(dict.fromkeys(data[h.y])), x_order=stack_order(data[h.x]),
                height=height, min_width=min_width,
            ),
            streams=[self._pipes[h.result]],
        )
        marker = hv.DynamicMap(lambda data: views.cell_marker(h.x, h.y, data), streams=[self._cell_pipe])
        tap = hv.streams.Tap(source=plot)
        tap.add_subscriber(self._tap_cell)
        self._taps[1:] = [tap]
        self.panes[h.result].param.update(object=plot * marker, height=height + 10)
        self._package_rows = rows

    @param.depends("state.result", watch=True)
    def _redraw(self):
        """Send the new counts to the heatmap on screen; the others are only marked
        stale (drawing a heatmap is the costly part of a selection change)."""
        r = self.state.result
        rows = self._rows_bucket(r.package_stack["package"].nunique())
        shown = self._shown() if self._package_rows is not None else None
        for name, pipe in self._pipes.items():
            if shown is not None and name != shown:
                self._stale.add(name)
                continue
            self._stale.discard(name)
            if name == "package_stack" and rows != self._package_rows:
                # the plot's height follows its number of packages: a new plot, which
                # starts from the pipe's data (no render of the old one first)
                pipe.update(data=r.package_stack)
                self._cell_pipe.update(data=self._cell_frame())
                self._package_plot(rows)
            else:
                pipe.send(getattr(r, name))
        cells = self._cell_frame()
        if self._package_rows == rows and "package_stack" not in self._stale and not cells.equals(self._cell_pipe.data):
            # only when the outline moves: every send redraws the whole overlay, heatmap included
            self._cell_pipe.send(cells)

    def __panel__(self):
        return self._layout


def detail_for(state) -> callable:
    """The spec table's row detail for ``state``'s data: :func:`dashboard.views.spec_detail`
    with the install commands for the spec's stack (the chosen one if it is in
    it), the target's ancestors and, for mirror sources, the dependencies."""
    data = state.data

    def graph():  # once per data set, shared by sessions (see CacheData.derived)
        if "dependency_graph" not in data.derived:
            data.derived["dependency_graph"] = (howto.dependency_children(data.dependencies), set(data.specs["hash"].astype(str)))
        return data.derived["dependency_graph"]

    def detail(row: pd.Series):
        commands = howto.install_commands(data.mirrors, str(row["tag"]), str(row["stacks"]), str(row["hash"]), state.stack)
        tree = None
        if len(data.dependencies):
            children, binaries = graph()
            tree = howto.dependency_tree(children, str(row["hash"]), binaries)
        return views.spec_detail(row, commands=commands, ancestors=compat.ancestors(str(row["target"])), dependencies=tree)

    return detail


class SpecTable(Component):
    """The spec table with its row count, clicked-cell note, *Download CSV* (exactly
    the rows shown, filtered and sorted) and *Export HTML* (the selection, offline)."""

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        self.table = views.spec_table(query.table_rows(s.index, s.result.mask), row_content=detail_for(s))
        if s.data.dependencies.empty:  # pages name no dependencies: no column of dashes (its width to variants)
            self.table.param.update(hidden_columns=["n_deps"], widths={**self.table.widths, "variants": "16%"})
        self.download = pn.widgets.FileDownload(
            callback=self._csv, filename="specs.csv", label="Download CSV (filtered rows)", button_type="primary", embed=False, width=220
        )
        self.export = pn.widgets.FileDownload(
            callback=self._export, filename="spack-cache-dashboard.html", label="Export HTML (current selection)", button_type="light",
            embed=False, width=250,
        )
        self.row_count = pn.pane.HTML("", name="row count", width=140)
        self.cell_note = pn.pane.HTML("", min_width=260, sizing_mode="stretch_width")
        self.clear_cell = pn.widgets.Button(
            name="Show all cells", button_type="light", visible=False, on_click=lambda e: setattr(s, "cell", None), width=130
        )
        self.table.param.watch(self._count_rows, ["filters", "value"])
        header = pn.FlexBox(
            self.row_count, self.cell_note, self.clear_cell, self.download, self.export,
            flex_wrap="wrap", align_items="center", sizing_mode="stretch_width",
        )
        self._layout = pn.Column(pn.pane.Markdown("### Specs"), header, self.table, sizing_mode="stretch_width")
        self._update()

    def _csv(self) -> io.StringIO:
        return io.StringIO(self.table.current_view.to_csv(index=False))

    def _export(self) -> io.BytesIO:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "export.html"
            export_html(self.state.data, out, mask=self.state.result.mask, selection=self.state.selection)
            return io.BytesIO(out.read_bytes())

    def _count_rows(self, *_):
        n = len(self.table.current_view) if self.table.filters else len(self.table.value)
        self.row_count.object = f"<b class='row-count'>{n:,}</b> rows"

    @param.depends("state.result", watch=True)
    def _update(self):
        s = self.state
        self.table.value = query.table_rows(s.index, s.result.mask)
        if s.cell:
            self.cell_note.object = html.escape(f"Table shows the cell: package {s.cell[0]}, stack {s.cell[1]}")
        else:
            self.cell_note.object = "Click a package x stack cell to show only its specs; click a row's arrow for its full hash."
        self.clear_cell.visible = s.cell is not None

    def __panel__(self):
        return self._layout


class Problems(Component):
    """Pages that could not be loaded or disagree with themselves, and what the
    folder scan skipped (collapsed when there are none)."""

    def __panel__(self):
        problems = self.state.data.problems
        return pn.Card(
            views.problems_table(problems),
            title=f"Problems: {len(problems)} ({int((problems['severity'] == 'error').sum())} {'mirrors' if len(self.state.data.mirrors) else 'pages'} not loaded)",
            collapsed=problems.empty,
            sizing_mode="stretch_width",
        )
