"""The dashboard's parts, each a Panel :class:`~panel.viewable.Viewer` bound to one
:class:`~dashboard.ui.state.DashboardState`: selectors, headline numbers, heatmaps,
spec table, problems.  Each builds its widgets once and updates them in place
when ``state.result`` changes (``@param.depends(..., watch=True)``); none
reaches into another.  New views are new components.
"""

from __future__ import annotations

import asyncio
import html
import io
import logging
import tempfile
from pathlib import Path

import pandas as pd
import panel as pn
import param

from dashboard.core import compat

from dashboard.domain import howto, query, verify

from dashboard.ui import views
from dashboard.export import export_html
from dashboard.ui.state import DashboardState
from dashboard.core.terms import cell_size_text, human_bytes
from dashboard.core.terms import ALARMING_SIGNATURES, SIGNATURE_COLUMN, DIMENSIONS, HEADLINE, HEATMAPS, LABELS, Heatmap, root_note, stack_order


class Component(pn.viewable.Viewer):
    """A part of the dashboard bound to the session's state."""

    state = param.ClassSelector(class_=DashboardState, doc="the session's one state object")


class Choice(views.ChangesSkipDesign, pn.widgets.MultiChoice):
    """A multi-choice selector whose pick is applied at once, while the server handles
    the browser's message, so the answer leaves with it.

    Panel holds a widget's change for 50 ms by default, waiting for more (right for a
    slider being dragged, not for a click); a priority change still waits for the next
    turn of the event loop, after the server's acknowledgement of the message has begun
    to be written, and Panel then queues the answer behind that write and retries every
    10 ms (~20-40 ms per pick at 2M rows).  Bokeh runs its own ``on_change`` callbacks
    the same way, inside the message's handling."""

    _priority_changes = ["value"]

    #: The text typed into the selector in the theme's text colour (Choices.js draws it
    #: black, unreadable on the dark theme's background; axe: colour contrast).
    _stylesheets = [*pn.widgets.MultiChoice._stylesheets,
                    ".choices__input { color: var(--panel-on-background-color, inherit); }"]

    def _server_change(self, doc, ref, subpath, attr, old, new):
        if attr != "value" or subpath or not doc.session_context or self._events or attr in self._changing.get(ref, []):
            return super()._server_change(doc, ref, subpath, attr, old, new)
        self._events.update({attr: new})
        try:
            self._change_event(doc)
        except Exception as exc:  # as Panel's deferred path does: report it, never break the session
            if pn.config.exception_handler:
                pn.config.exception_handler(exc)
            else:
                logging.getLogger(__name__).exception("applying a selector's change failed")


class Selectors(Component):
    """Sidebar: name search (applied while typing), one multi-choice per dimension
    (options with spec counts under the other selections), top-N slider, reset."""

    #: Seconds the name search waits after the last key before it applies.
    SEARCH_DEBOUNCE_S = 0.3
    #: Options the version list shows (newest first) and any list shows for typed text.
    #: The browser re-renders a selector's whole list whenever its counts change (each
    #: pick): hundreds of versions, each naming its packages, cost ~20 ms a pick.
    OPTION_LIMIT = 40
    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        self.widgets = {
            # typed text shows up to OPTION_LIMIT matches (Choices.js shows 4 by default)
            dim: Choice.from_param(s.param[dim], placeholder="all", solid=False, label=LABELS[dim], search_option_limit=self.OPTION_LIMIT)
            for dim in DIMENSIONS
        }
        self.widgets["version"].option_limit = self.OPTION_LIMIT
        self.widgets["stack"].description = "root = the tag's top-level mirror, holding every spec of the tag"
        self.widgets["version"].description = (
            f"Newest first (Spack's order); each version names the packages that have it. The list shows the newest {self.OPTION_LIMIT}: type to find the others"
        )
        self.search = pn.widgets.TextInput.from_param(s.param.package, placeholder="e.g. py-", label="Package name contains")
        self.search.value_input = s.package  # what the box shows (from the URL, say)
        self.search.param.watch(self._typed, "value_input")
        self.top_n = pn.widgets.IntSlider.from_param(s.param.top_n, step=5)
        self.reset = pn.widgets.Button(label="Clear all filters", color="light", on_click=lambda e: s.clear())
        self._layout = pn.Column(self.search, *self.widgets.values(), self.top_n, self.reset, sizing_mode="stretch_width")

    @param.depends("state.package", watch=True)
    def _pushed(self):
        """Text set from Python (URL, *Clear all filters*, a notebook cell) becomes the
        server's copy of the typed text too.  Panel updates only ``value`` through the
        link, so ``value_input`` kept the last text typed: typing that same text again
        (the browser sends only the last of keys that come quickly) changed nothing and
        was never applied.  The browser does not send the new copy back: Bokeh
        echoes no change that came from the server."""
        if self.search.value_input != self.state.package:
            self.search.value_input = self.state.package

    async def _typed(self, event):
        """Apply the name search while typing, once no key came for :attr:`SEARCH_DEBOUNCE_S`."""
        await asyncio.sleep(self.SEARCH_DEBOUNCE_S)
        if self.search.value_input == event.new and self.state.package != event.new:
            self.state.package = event.new or ""

    @param.depends("state.relabelled", watch=True)
    def _relabel(self):
        # option labels carry counts: re-send the value so the browser gets the
        # selected values' new labels (otherwise it drops them from the box).
        # Only once the widget holds the state's value: else the widget -> state
        # link would write its stale value back.
        # Only where the options changed: a re-sent value redraws the selector.
        for dim in self.state.relabelled:
            widget = self.widgets[dim]
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
            key: views.HeadlineNumber(label=label, value=0, format="{value:,}", font_size="28pt", title_size="11pt")
            for key, label in HEADLINE.items()
        }
        self.empty_note = pn.Row(
            views.TextPane("<b>No specs match this selection.</b> Remove a filter, or clear them all.", css_classes=["empty-note"]),
            pn.widgets.Button(label="Clear all filters", color="warning", on_click=lambda e: self.state.clear(), width=160),
            visible=False,
            styles={"background": "#fff4e5", "border-radius": "4px"},
            sizing_mode="stretch_width",
        )
        #: what the selection's signatures say (specs checked with ``--verify`` only)
        self.signatures = views.TextPane("", css_classes=["signature-line"], sizing_mode="stretch_width",
                                          visible=SIGNATURE_COLUMN in self.state.data.specs.columns)
        #: the selection's bytes (known sizes) and how many sizes are unknown
        self.size_line = views.TextPane("", css_classes=["size-line"], sizing_mode="stretch_width")
        self._layout = pn.Column(pn.FlexBox(*self.numbers.values()), self.size_line, self.signatures, self.empty_note, sizing_mode="stretch_width")
        self._update()

    @param.depends("state.result", watch=True)
    def _update(self):
        numbers = self.state.result.numbers
        for key, number in self.numbers.items():
            number.value = numbers[key]
        self.empty_note.visible = numbers["specs"] == 0
        # every spec is in one tag: the tags' sums are the selection's (none without sizes)
        by_tag = self.state.result.sizes_by.get("tag")
        total, known = (int(by_tag["bytes"].sum()), int(by_tag["sized"].sum())) if by_tag is not None else (0, 0)
        unknown = numbers["specs"] - known
        self.size_line.object = (
            f"<b>Size</b> {human_bytes(total)} in {known:,} binaries" + (f"; {unknown:,} of unknown size" if unknown else "")
            + "".join(self._largest(dim) for dim in ("stack", "tag"))
            if known else f"<b>Size</b> unknown ({unknown:,} binaries; pages write \"-\" and mirrors need --sizes)" if unknown else "")
        if self.signatures.visible:
            chosen = self.state.data.specs.loc[self.state.result.mask, [SIGNATURE_COLUMN, "signer"]]  # the two columns it reads
            alarm = chosen[SIGNATURE_COLUMN].isin(ALARMING_SIGNATURES).any()
            self.signatures.object = (f'<span style="color:{"#b02a37" if alarm else "#212529"}"><b>Signatures</b> '
                                      f'{html.escape(verify.headline(chosen))}</span>')

    #: Stacks and tags the size line names, largest first.
    LARGEST = 3

    def _largest(self, dim: str) -> str:
        """``" · by stack: e4s 1.2 GiB, hep 310.0 MiB, +4 more"``: the selection's largest
        stacks or tags by known bytes (the stack x tag heatmap's hover has every cell)."""
        frame = self.state.result.sizes_by.get(dim)
        if frame is None or len(frame) < 2:  # one tag or stack: the total says it
            return ""
        named = ", ".join(f"{html.escape(str(v))} {cell_size_text(b, k, n)}" for v, b, k, n in
                          frame.head(self.LARGEST)[[dim, "bytes", "sized", "specs"]].itertuples(index=False))
        more = f", +{len(frame) - self.LARGEST:,} more" if len(frame) > self.LARGEST else ""
        return f" &middot; <b>by {dim}</b>: {named}{more}"

    def __panel__(self):
        return self._layout


class Heatmaps(Component):
    """The heatmap views (:data:`dashboard.core.terms.HEATMAPS`), one shown at a time.

    Each is drawn by HoloViews from a :func:`dashboard.ui.views.heatmap` the first
    time it is shown; after that a selection change only puts the new counts,
    axis factors and colour range into that drawing
    (:func:`dashboard.ui.views.update_heatmap`), and only for the heatmap on screen
    (the others catch up when shown).  The package x stack plot keeps the height of top
    N packages, up to 30 (empty rows below fewer), and it outlines the clicked cell; clicking a cell
    there sets ``state.cell``, on OS x target it selects that OS and target.
    """

    def __init__(self, **params):
        super().__init__(**params)
        self.figures: dict = {}  # result name -> Bokeh figure, drawn on first show
        self._stale: set[str] = {h.result for h in HEATMAPS}  # not yet drawn with the current result
        # visibility is toggled on a Column around each plot: toggling it on the plot's
        # pane itself trips Panel's style sync under the Bootstrap design
        self._views = {
            h.name: pn.Column(sizing_mode="stretch_width", margin=0, styles={"overflow-x": "auto", "min-width": "0", "max-width": "100%"})
            for h in HEATMAPS
        }
        self.picker = pn.widgets.RadioButtonGroup(
            options=[h.name for h in HEATMAPS], value=HEATMAPS[0].name, color="primary", variant="outline", css_classes=["heatmap-picker"]
        )
        self.picker.param.watch(self._show, "value")
        self._layout = pn.Column(
            self.picker, *self._views.values(),
            views.TextPane(f"<small>{html.escape(root_note(self.state.data.spec_stacks['stack'].cat.categories))}</small>",
                            sizing_mode="stretch_width", css_classes=["root-note"]),
            sizing_mode="stretch_width",
        )
        self._show()

    def _show(self, *_):
        for name, view in self._views.items():
            view.visible = name == self.picker.value
        self._redraw()

    def _shown(self) -> Heatmap:
        """The heatmap on screen."""
        return next(h for h in HEATMAPS if h.name == self.picker.value)

    def _layout_args(self, h: Heatmap, counts: pd.DataFrame) -> dict:
        """Orders and sizes of heatmap ``h`` for ``counts``: widths (and heights, but the
        package x stack one's) from every category of the data, so a plot keeps its size
        while the selection changes."""
        cats = self.state.index.categories
        args = dict(min_width=views.heatmap_min_width(len(cats[h.x]), views.longest(cats[h.y])))
        if h.result == "package_stack":
            args.update(y_order=list(dict.fromkeys(counts[h.y])), x_order=stack_order(counts[h.x]),
                        height=views.heatmap_height(self._slots(counts[h.y].nunique()), views.longest(cats[h.x])))
        else:
            args.update(height=views.heatmap_height(len(cats[h.y]), views.longest(cats[h.x])))
        if h.result == "stack_tag":
            args.update(y_order=stack_order(counts[h.y]))
        return args

    #: The package x stack plot has room for at least this many packages (or top N if
    #: fewer): a larger top N is not kept as empty rows when a pick shows fewer packages.
    KEPT_ROWS = 30

    def _slots(self, rows: int) -> int:
        """Rows the package x stack plot is sized for: ``rows`` packages, but at least top N
        up to :attr:`KEPT_ROWS`. Its height stays while picks change how many packages it
        shows (fewer: empty rows below them), so the page below it does not move: a height
        change lays the whole page out again in the browser (~40-80 ms a pick at 2M rows,
        see docs/benchmarks.md)."""
        return max(rows, min(self.state.top_n, self.KEPT_ROWS))

    def _cell_frame(self) -> pd.DataFrame:
        """The clicked cell as a one-row frame (``stack``, ``package``), if it is drawn."""
        cell, shown = self.state.cell, self.state.result.package_stack
        if cell and ((shown["package"] == cell[0]) & (shown["stack"] == cell[1])).any():
            return pd.DataFrame({"stack": [cell[1]], "package": [cell[0]]})
        return pd.DataFrame({"stack": pd.Series([], dtype=str), "package": pd.Series([], dtype=str)})

    def _draw(self, h: Heatmap) -> None:
        """Draw heatmap ``h`` for the current result: the first time HoloViews plans the
        figure, then the counts are drawn into it, as after every later change.

        HoloViews plans it from the first cell only: its axes, colour bar, tools and
        sizes do not depend on the counts (``_layout_args``), while gridding every cell
        would cost each new session ~30 ms more at 2M rows."""
        counts = getattr(self.state.result, h.result)
        args = self._layout_args(h, counts)
        cells = self._cell_frame() if h.result == "package_stack" else None
        fig = self.figures.get(h.result)
        new = fig is None
        if new:
            fig = self._plan(h, counts, args, cells)
        slots = self._slots(counts[h.y].nunique()) if h.result == "package_stack" else None
        views.update_heatmap(fig, counts, h.x, h.y, h.title, y_order=args.get("y_order"), x_order=args.get("x_order"), height=args["height"], cells=cells, slots=slots)
        if new:
            # the figure sizes its pane: setting the pane's size later would make Panel copy
            # the figure's properties back, which fails on HoloViews' style sheets
            self._views[h.name][:] = [pn.pane.Bokeh(fig, name=h.name)]
        self._stale.discard(h.result)

    def _plan(self, h: Heatmap, counts: pd.DataFrame, args: dict, cells: pd.DataFrame | None):
        """HoloViews' figure for heatmap ``h``, planned from the first cell of ``counts``,
        with the clicked-cell marker (``cells``) and the click handler."""
        first = counts.head(1)
        plan = {**args, "y_order": list(first[h.y]), "x_order": list(first[h.x])}
        fig = self.figures[h.result] = views.heatmap_figure(views.heatmap(first, h.x, h.y, h.title, **plan))
        if cells is not None:
            views.mark_cells(fig, h.x, h.y, cells)
        if h.result == "package_stack":  # no tick marks beside its empty rows (the labels name the rows)
            fig.yaxis.major_tick_line_color = None
        if h.result in ("package_stack", "os_target"):
            source = views.heatmap_cells(fig)
            source.selected.on_change("indices", lambda attr, old, new, h=h, source=source: self._tapped(h, source, new))
        return fig

    def _tapped(self, h: Heatmap, source, indices: list[int]) -> None:
        """A click on a cell of ``h``: the package x stack cell narrows the table, the OS x
        target cell selects that OS and target."""
        if not indices:
            return
        x, y = str(source.data[h.x][indices[0]]), str(source.data[h.y][indices[0]])
        if h.result == "package_stack":
            self.state.cell = (y, x)
        else:
            self.state.param.update(os=[y], target=[x])

    @param.depends("state.result", watch=True)
    def _changed(self):
        self._stale = {h.result for h in HEATMAPS}
        self._redraw()

    def _redraw(self):
        """Draw the heatmap on screen if it missed a change (drawing is the costly part of
        a selection change: hidden heatmaps wait until shown)."""
        h = self._shown()
        if h.result in self._stale:
            self._draw(h)

    def __panel__(self):
        return self._layout


def detail_for(state) -> callable:
    """The spec table's row detail for ``state``'s data: :func:`dashboard.ui.views.spec_detail`
    with the install commands for the spec's stack (the chosen one if it is in
    it), the target's ancestors and, for mirror sources, the dependencies."""
    data = state.data

    def graph():  # once per data set, shared by sessions (see CacheData.derived)
        if "dependency_graph" not in data.derived:
            external = data.nodes["hash"][data.nodes["external"].astype(bool)] if len(data.nodes) else []
            data.derived["dependency_graph"] = (howto.dependency_children(data.dependencies), set(data.specs["hash"].astype(str)),
                                                set(map(str, external)))
        return data.derived["dependency_graph"]

    def detail(row: pd.Series):
        commands, warnings = howto.install_commands(data.mirrors, str(row["tag"]), str(row["stacks"]), str(row["hash"]), state.stack)
        tree = None
        if len(data.dependencies):
            children, binaries, externals = graph()
            tree = howto.dependency_tree(children, str(row["hash"]), binaries, externals=externals)
        signer = str(data.specs.at[row.name, "signer"]) if "signer" in data.specs.columns and row.name in data.specs.index else ""
        return views.spec_detail(row, commands=commands, ancestors=compat.ancestors(str(row["target"])), dependencies=tree, signer=signer, warnings=warnings)

    return detail


#: Runs in the browser when the spec table's ``filters`` change (typed, or set by the
#: server from the selection: *Clear all filters*, a URL): the header's inputs show the
#: filters in force.  Tabulator's own view holds the inputs (``Bokeh.index`` finds it).
HEADER_FILTERS_JS = """
const view = Bokeh.index.find_one(source);
const tab = view && view.tabulator;
if (!tab) return;
const wanted = new Map((source.filters || []).filter(f => f.value !== '' && f.value != null).map(f => [f.field, String(f.value)]));
const shown = new Map(tab.getHeaderFilters().map(f => [f.field, String(f.value)]));
for (const [field, value] of shown) if (!wanted.has(field)) tab.setHeaderFilterValue(field, '');
for (const [field, value] of wanted) if (shown.get(field) !== value) tab.setHeaderFilterValue(field, value);
"""


class SpecTable(Component):
    """The spec table with its row count, clicked-cell note, *Download CSV* (exactly
    the rows shown, filtered and sorted) and *Export HTML* (the selection, offline)."""

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        self.table = views.spec_table(query.table_rows(s.index, s.result.mask), row_content=detail_for(s),
                                      filters={k: v for k, v in (s.columns or {}).items() if str(v).strip()})
        # no column of dashes: pages name no dependencies, and often no size
        dashes = (["n_deps"] if s.data.dependencies.empty else []) + (["size"] if s.data.specs["size"].isna().all() else [])
        if dashes:
            self.table.hidden_columns = dashes
        self.download = pn.widgets.FileDownload(
            callback=self._csv, filename="specs.csv", label="Download CSV (filtered rows)", color="primary", embed=False, width=220
        )
        self.export = pn.widgets.FileDownload(
            callback=self._export, filename="spack-cache-dashboard.html", label="Export HTML (current selection)", color="light",
            embed=False, width=250,
        )
        self.row_count = views.TextPane("", name="row count", width=140)
        self.cell_note = views.TextPane("", min_width=260, sizing_mode="stretch_width")
        self.clear_cell = pn.widgets.Button(
            label="Show all cells", color="light", visible=False, on_click=lambda e: setattr(s, "cell", None), width=130
        )
        self.table.param.watch(self._count_rows, ["filters", "value"])
        # the header filters are part of the selection: the headline, heatmaps, CSV,
        # export and URL follow them (state.columns); a note names those in force
        self.table.param.watch(self._filters_to_state, "filters")
        self.table.jscallback(filters=HEADER_FILTERS_JS)
        self.filter_note = views.TextPane("", min_width=200, sizing_mode="stretch_width", css_classes=["filter-note"])
        self.clear_filters = pn.widgets.Button(label="Clear table filters", color="light", visible=False, width=150,
                                               on_click=lambda e: setattr(s, "columns", {}))
        header = pn.FlexBox(
            self.row_count, self.cell_note, self.clear_cell, self.filter_note, self.clear_filters, self.download, self.export,
            flex_wrap="wrap", align_items="center", sizing_mode="stretch_width",
        )
        self._layout = pn.Column(pn.pane.Markdown("### Specs"), header, self.table, sizing_mode="stretch_width")
        self._note_cell()
        self._note_filters()
        self._count_rows()

    def _filters_to_state(self, event):
        """The table's header filters (Tabulator's ``[{field, type, value}]``) into the selection."""
        columns = {str(f["field"]): str(f["value"]) for f in event.new or []
                   if f.get("field") and f.get("value") not in (None, "") and str(f["value"]).strip()}
        if columns != dict(self.state.columns or {}):
            self.state.columns = columns

    @param.depends("state.columns", watch=True)
    def _note_filters(self):
        """Name the header filters in force; when they are cleared from elsewhere (*Clear
        all filters*, *Clear table filters*), empty the header's inputs too."""
        columns = {k: v for k, v in (self.state.columns or {}).items() if str(v).strip()}
        self.filter_note.object = ("Table filters: " + ", ".join(
            f"{html.escape(k)} contains <b>{html.escape(v)}</b>" for k, v in columns.items())) if columns else ""
        self.clear_filters.visible = bool(columns)
        wanted = [{"field": k, "type": "like", "value": v} for k, v in columns.items()]
        shown = [{"field": f.get("field"), "type": f.get("type"), "value": f.get("value")} for f in self.table.filters or []
                 if f.get("value") not in (None, "")]
        if sorted(map(str, wanted)) != sorted(map(str, shown)):
            self.table.filters = wanted  # the browser puts them in the header's inputs (HEADER_FILTERS_JS)

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
        self._note_cell()

    def _note_cell(self):
        """The note above the table and *Show all cells*: which heatmap cell it shows."""
        s = self.state
        if s.cell:
            self.cell_note.object = html.escape(f"Table shows the cell: package {s.cell[0]}, stack {s.cell[1]}")
        else:
            self.cell_note.object = "Click a package x stack cell to show only its specs; click a row's arrow for its full hash."
        self.clear_cell.visible = s.cell is not None

    def __panel__(self):
        return self._layout


class Problems(Component):
    """Pages or mirrors that could not be loaded, pages that disagree with themselves,
    and what the folder scan skipped (collapsed when there are none); worded for the
    kind of source loaded."""

    def __panel__(self):
        problems = self.state.data.problems
        # no table when there is nothing to list: a Tabulator costs each new session and
        # page its model and rendering even collapsed
        mirrors = len(self.state.data.mirrors) > 0
        fine = ("Every mirror loaded; no index record was skipped." if mirrors else "Every page loaded; none disagrees with itself.")
        body = views.problems_table(problems) if len(problems) else pn.pane.Markdown(fine)
        nodes = self.state.data.nodes
        external = int(nodes["external"].astype(bool).sum()) if len(nodes) else 0
        # records of an index with no binary are not problems: say what they are
        note = [views.TextPane(
            f"Not problems: the indexes also hold {external:,} externals (Spack never pushes them) and "
            f"{len(nodes) - external:,} records that were not pushed; dependencies may point at them.",
            css_classes=["not-binaries"], sizing_mode="stretch_width",
        )] if len(nodes) else []
        return pn.Card(
            body, *note,
            title=f"Problems: {len(problems)} ({int((problems['severity'] == 'error').sum())} {'mirrors' if mirrors else 'pages'} not loaded)",
            collapsed=problems.empty,
            sizing_mode="stretch_width",
        )
