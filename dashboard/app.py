"""The Panel app: one state object, widgets built from it, views bound to it.

Run it any of these ways (the package must be installed, ``pip install -e .``)::

    spack-cache-dashboard serve [--data PATH]
    panel serve dashboard/app.py [--args --data PATH]
    # in Jupyter:  from dashboard.app import CacheDashboard; CacheDashboard.from_path("assets/pages")

The data path comes from ``--data PATH``, else ``$SPACK_CACHE_DASHBOARD_DATA``,
else the real pages shipped in ``assets/pages``.  A loaded data set is shared by
all sessions of one server process.
"""

from __future__ import annotations

import asyncio
import html
import io
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlencode

import holoviews as hv
import pandas as pd
import panel as pn
import param

from dashboard import query, views
from dashboard.export import export_html
from dashboard.load import CacheData, load

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "assets" / "pages"
DATA_ENV = "SPACK_CACHE_DASHBOARD_DATA"
TITLE = "Spack build cache"
STACKS_LABEL = query.STACKS_LABEL
ROOT_NOTE = (
    "<b>root</b> is the tag's top-level mirror: it holds every spec of the tag, so its cells are the "
    "brightest. The other stacks (e4s, ml-linux-x86_64-cuda, ...) are the per-environment mirrors under it; "
    "the Stacks number counts those, not root."
)
LABELS = query.LABELS

#: ``pn.extension`` arguments the dashboard needs; entry points (``served_page``,
#: the notebook) call ``pn.extension`` themselves, importing this module does not.
EXTENSIONS = ("tabulator",)


def data_path(argv: list[str] | None = None) -> str:
    """``--data PATH`` from ``argv`` (default ``sys.argv``), else ``$SPACK_CACHE_DASHBOARD_DATA``,
    else the embedded real pages in ``assets/pages``."""
    argv = sys.argv if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--data" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--data="):
            return arg.split("=", 1)[1]
    return os.environ.get(DATA_ENV) or str(DEFAULT_DATA)


_DATA: dict[str, CacheData] = {}
_DATA_LOCK = threading.Lock()


def shared_data(path: str, progress=None) -> CacheData:
    """Load ``path`` once per process; concurrent sessions wait for the same load."""
    key = os.path.abspath(path)
    with _DATA_LOCK:
        if key not in _DATA:
            _DATA[key] = load(path, progress=progress)
        return _DATA[key]


class DashboardState(param.Parameterized):
    """The single source of truth of one dashboard session.

    Selector parameters hold the selected values; their ``objects`` are the
    values that exist under the other selections, labelled with spec counts.
    ``result`` (a :class:`dashboard.query.Result`) is recomputed once per change.
    """

    tag = param.ListSelector(default=[], objects=[], label=LABELS["tag"])
    stack = param.ListSelector(default=[], objects=[], label=LABELS["stack"])
    os = param.ListSelector(default=[], objects=[], label=LABELS["os"])
    target = param.ListSelector(default=[], objects=[], label=LABELS["target"])
    version = param.ListSelector(default=[], objects=[], label=LABELS["version"])
    package = param.String(default="", label="Package name contains")
    top_n = param.Integer(default=30, bounds=(5, 500), label="Packages on the heatmap (top N by specs)")
    cell = param.Tuple(default=None, length=2, allow_None=True, doc="(package, stack) clicked on the heatmap")
    result = param.Parameter(default=None, doc="dashboard.query.Result for the current selection")

    def __init__(self, data: CacheData, **params):
        self.data = data
        self.index = query.build_index(data)
        super().__init__(**params)
        self.param.watch(self._on_change, ["tag", "stack", "os", "target", "version", "package", "top_n", "cell"])
        self._recompute()

    @property
    def selection(self) -> query.Selection:
        """The current selection as a :class:`dashboard.query.Selection`."""
        return query.Selection(
            **{dim: tuple(getattr(self, dim)) for dim in query.DIMENSIONS},
            package=self.package,
            cell=tuple(self.cell) if self.cell else None,
        )

    def _on_change(self, *events):
        names = {e.name for e in events}
        if self.cell is not None and "cell" not in names and names - {"top_n"}:
            with param.discard_events(self):
                self.cell = None  # a new filter invalidates the clicked cell
        self._recompute()

    def _recompute(self):
        result = query.compute(self.index, self.selection, self.top_n)
        for dim in query.DIMENSIONS:
            opts = result.options[dim]
            if dim == "version":  # versions of many packages: say whose they are
                labels = [f"{v} ({n:,}) {p}" for v, n, p in zip(opts["value"], opts["specs"], opts["packages"])]
            else:
                labels = [f"{v} ({n:,})" for v, n in zip(opts["value"], opts["specs"])]
            # Choices.js renders option labels as HTML: escape text that comes from pages
            self.param[dim].objects = {html.escape(label): v for label, v in zip(labels, opts["value"])}
        self.result = result

    def clear(self):
        """Reset every filter."""
        self.param.update(tag=[], stack=[], os=[], target=[], version=[], package="", cell=None)

    # -- URL query state ---------------------------------------------------------
    def url_query(self) -> list[tuple[str, str]]:
        """The selection as URL query pairs, e.g. ``[("stack", "e4s"), ("os", "ubuntu22.04")]``.

        One pair per selected value (repeated keys), ``package`` for the name
        search and ``cell=<package>,<stack>`` for a clicked heatmap cell; an
        unfiltered dashboard gives ``[]``.
        """
        pairs = [(dim, value) for dim in query.DIMENSIONS for value in getattr(self, dim)]
        if self.package:
            pairs.append(("package", self.package))
        if self.cell:
            pairs.append(("cell", ",".join(self.cell)))
        return pairs

    def apply_url_query(self, args: Mapping[str, Sequence[str | bytes]]) -> list[str]:
        """Select what a URL query asks for; return one notice per value ignored.

        Args:
            args: query key -> values, as ``urllib.parse.parse_qs`` or
                ``pn.state.session_args`` give them (``bytes`` are UTF-8
                decoded).  Keys are the :data:`dashboard.query.DIMENSIONS`,
                ``package`` and ``cell``; a dimension's values may also be
                comma-separated.  Other keys are left alone (Panel and Bokeh
                use some).

        Returns:
            Human-readable notices for values that are not in this build cache
            (those values are ignored, the rest still apply).  Never raises for
            bad input.
        """

        def text(values) -> list[str]:
            return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]

        update: dict = {}
        notices: list[str] = []
        for dim in query.DIMENSIONS:
            if dim not in args:
                continue
            known = set(self.index.categories[dim].astype(str))
            wanted: list[str] = []
            for raw in text(args[dim]):
                wanted += [raw] if raw in known else [v for v in raw.split(",") if v]
            unknown = [v for v in wanted if v not in known]
            notices += [f"{LABELS[dim]} '{v}' from the URL is not in this build cache: ignored." for v in unknown]
            update[dim] = list(dict.fromkeys(v for v in wanted if v in known))
        if "package" in args:
            update["package"] = (text(args["package"]) or [""])[-1]
        if "cell" in args:
            package, _, stack = (text(args["cell"]) or [""])[-1].partition(",")
            if package in set(self.index.categories["package"].astype(str)) and stack in set(self.index.categories["stack"].astype(str)):
                update["cell"] = (package, stack)
            else:
                notices.append(f"Heatmap cell '{package},{stack}' from the URL is not in this build cache: ignored.")
        if update:
            self.param.update(**update)
        return notices


class CacheDashboard(pn.viewable.Viewer):
    """Build-cache dashboard for one :class:`~dashboard.load.CacheData`.

    Displays as a sidebar + main layout (notebooks, ``pn.Row``-style embedding);
    :func:`served_page` puts :meth:`sidebar` and :meth:`main` in a page template.
    """

    state = param.ClassSelector(class_=DashboardState)

    #: Seconds the name search waits after the last key before it applies.
    SEARCH_DEBOUNCE_S = 0.3
    #: Seconds during which the browser's copy of a search text set from Python is an echo.
    ECHO_S = 5.0

    def __init__(self, data: CacheData, **params):
        super().__init__(state=DashboardState(data), **params)
        s = self.state
        self.widgets = {
            dim: pn.widgets.MultiChoice.from_param(s.param[dim], placeholder="all", solid=False, name=LABELS[dim])
            for dim in query.DIMENSIONS
        }
        self.widgets["stack"].description = "root = the tag's top-level mirror, holding every spec of the tag"
        self.widgets["version"].description = "Newest first (Spack's order); each version names the packages that have it"
        self.search = pn.widgets.TextInput.from_param(s.param.package, placeholder="e.g. py-", name="Package name contains")
        self._pushed_at: dict[str, float] = {}
        s.param.watch(self._pushed, "package")
        self.search.param.watch(self._typed, "value_input")
        self.top_n = pn.widgets.IntSlider.from_param(s.param.top_n, step=5)
        self.reset = pn.widgets.Button(name="Clear all filters", button_type="light", on_click=lambda e: s.clear())
        self.numbers = {
            key: pn.indicators.Number(name=label, value=0, format="{value:,}", font_size="28pt", title_size="11pt")
            for key, label in [("packages", "Packages"), ("specs", "Specs"), ("stacks", STACKS_LABEL), ("tags", "Tags")]
        }
        self.empty_note = pn.Row(
            pn.pane.HTML("<b>No specs match this selection.</b> Remove a filter, or clear them all.", css_classes=["empty-note"]),
            pn.widgets.Button(name="Clear all filters", button_type="warning", on_click=lambda e: s.clear(), width=160),
            visible=False,
            styles={"background": "#fff4e5", "border-radius": "4px"},
            sizing_mode="stretch_width",
        )
        # Heatmaps are DynamicMaps fed through Pipes: a selection change sends new
        # counts to the existing plots instead of building new ones.
        r = s.result
        self._pipes = {name: hv.streams.Pipe(data=getattr(r, name)) for name in ("package_stack", "os_target", "stack_tag")}
        self._cell_pipe = hv.streams.Pipe(data=self._cell_frame())
        cats = s.index.categories
        # sizes from every category of the data: a plot keeps its size while the selection changes
        ot_size = dict(
            height=views.heatmap_height(len(cats["os"]), views.longest(cats["target"])),
            min_width=views.heatmap_min_width(len(cats["target"]), views.longest(cats["os"])),
        )
        st_size = dict(
            height=views.heatmap_height(len(cats["stack"]), views.longest(cats["tag"])),
            min_width=views.heatmap_min_width(len(cats["tag"]), views.longest(cats["stack"])),
        )
        ot_plot = hv.DynamicMap(
            lambda data: views.heatmap(data, "target", "os", "Specs per OS and target", **ot_size),
            streams=[self._pipes["os_target"]],
        )
        st_plot = hv.DynamicMap(
            lambda data: views.heatmap(data, "tag", "stack", "Specs per stack and tag", y_order=views.stack_order(data["stack"]), **st_size),
            streams=[self._pipes["stack_tag"]],
        )
        self._taps: list[hv.streams.Stream] = [hv.streams.Tap(source=ot_plot)]
        self._taps[0].add_subscriber(self._tap_os_target)
        self.package_stack = pn.pane.HoloViews(sizing_mode="stretch_width", name="package x stack")
        self.os_target = pn.pane.HoloViews(ot_plot, sizing_mode="stretch_width", name="OS x target", height=ot_size["height"] + 10)
        self.stack_tag = pn.pane.HoloViews(st_plot, sizing_mode="stretch_width", name="stack x tag", height=st_size["height"] + 10)
        self._package_plot_rows = None
        # one heatmap shown at a time; each pane is sized for its own plot (Tabs would
        # keep the tallest plot's height for all of them)
        # (visibility is toggled on a Column around each pane: toggling it on the HoloViews
        # pane itself trips Panel's style sync under the Bootstrap design)
        self._heatmaps = {
            name: pn.Column(pane, sizing_mode="stretch_width", margin=0, styles={"overflow-x": "auto", "min-width": "0", "max-width": "100%"})
            for name, pane in [("Package x stack", self.package_stack), ("OS x target", self.os_target), ("Stack x tag", self.stack_tag)]
        }
        self.view_picker = pn.widgets.RadioButtonGroup(
            options=list(self._heatmaps), value="Package x stack", button_type="primary", button_style="outline", name="heatmap"
        )
        self.view_picker.param.watch(self._show_heatmap, "value")
        self._show_heatmap()
        self.table = views.spec_table(query.table_rows(s.index, s.result.mask))
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
        problems = s.data.problems
        self.problems = pn.Card(
            views.problems_table(problems),
            title=f"Problems: {len(problems)} ({int((problems['severity'] == 'error').sum())} pages not loaded)",
            collapsed=problems.empty,
            sizing_mode="stretch_width",
        )
        s.param.watch(self._render, "result")
        self.table.param.watch(self._count_rows, ["filters", "value"])
        self._render()

    @classmethod
    def from_path(cls, path: str | os.PathLike, **load_kwargs) -> "CacheDashboard":
        """Load ``path`` (see :func:`dashboard.load.load`) and build the dashboard."""
        return cls(load(path, **load_kwargs))

    # -- callbacks ---------------------------------------------------------------
    def _pushed(self, event):
        """Remember when the search text was set from Python (URL, *Clear all filters*,
        a notebook cell): the browser echoes it back as typed text, maybe late."""
        self._pushed_at[event.new] = time.monotonic()

    async def _typed(self, event):
        """Apply the name search while typing, once no key came for :attr:`SEARCH_DEBOUNCE_S`;
        an echo of a value set from Python is not typing (it would undo a later change)."""
        if time.monotonic() - self._pushed_at.get(event.new, -1e9) < self.ECHO_S:
            return
        await asyncio.sleep(self.SEARCH_DEBOUNCE_S)
        if self.search.value_input == event.new and self.state.package != event.new:
            self.state.package = event.new or ""

    def _csv(self) -> io.StringIO:
        return io.StringIO(self.table.current_view.to_csv(index=False))

    def _export(self) -> io.BytesIO:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "export.html"
            export_html(self.state.data, out, mask=self.state.result.mask, selection=self.state.selection)
            return io.BytesIO(out.read_bytes())

    def follow_url(self, location: pn.io.location.Location) -> None:
        """Keep the page URL's query equal to the selection (see
        :meth:`DashboardState.url_query`), now and after every change, so the
        URL can be shared; :meth:`DashboardState.apply_url_query` reads it back."""

        def write(*_):
            pairs = self.state.url_query()
            location.search = f"?{urlencode(pairs)}" if pairs else ""

        self.state.param.watch(write, "result")
        write()

    def _count_rows(self, *_):
        n = len(self.table.current_view) if self.table.filters else len(self.table.value)
        self.row_count.object = f"<b class='row-count'>{n:,}</b> rows"

    def _tap_cell(self, x=None, y=None):
        if x is not None and y is not None:
            self.state.cell = (str(y), str(x))

    def _tap_os_target(self, x=None, y=None):
        if x is not None and y is not None:
            self.state.param.update(os=[str(y)], target=[str(x)])

    def _show_heatmap(self, *_):
        for name, pane in self._heatmaps.items():
            pane.visible = name == self.view_picker.value

    def _cell_frame(self) -> pd.DataFrame:
        """The clicked cell as a one-row frame (``stack``, ``package``), if it is drawn."""
        cell = self.state.cell
        shown = self.state.result.package_stack
        if cell and ((shown["package"] == cell[0]) & (shown["stack"] == cell[1])).any():
            return pd.DataFrame({"stack": [cell[1]], "package": [cell[0]]})
        return pd.DataFrame({"stack": pd.Series([], dtype=str), "package": pd.Series([], dtype=str)})

    def _package_plot(self, rows: int) -> None:
        """(Re)build the package x stack DynamicMap for ``rows`` packages (its height),
        with the clicked cell outlined."""
        cats = self.state.index.categories
        height = views.heatmap_height(rows, views.longest(cats["stack"]))
        min_width = views.heatmap_min_width(len(cats["stack"]), views.longest(cats["package"]))
        plot = hv.DynamicMap(
            lambda data: views.heatmap(
                data, "stack", "package", "Specs per package and stack",
                y_order=list(dict.fromkeys(data["package"])), x_order=views.stack_order(data["stack"]),
                height=height, min_width=min_width,
            ),
            streams=[self._pipes["package_stack"]],
        )
        marker = hv.DynamicMap(lambda data: views.cell_marker("stack", "package", data), streams=[self._cell_pipe])
        tap = hv.streams.Tap(source=plot)
        tap.add_subscriber(self._tap_cell)
        self._taps[1:] = [tap]
        self.package_stack.param.update(object=plot * marker, height=height + 10)
        self._package_plot_rows = rows

    def _render(self, *_):
        s, r = self.state, self.state.result
        for dim, widget in self.widgets.items():
            # option labels carry counts: re-send the value so the browser gets the
            # selected values' new labels (otherwise it drops them from the box).
            # Only once the widget holds the state's value: else the widget -> state
            # link would write its stale value back.
            if widget.value and list(widget.value) == list(getattr(s, dim)):
                widget.param.trigger("value")
        for key, number in self.numbers.items():
            number.value = r.numbers[key]
        self.empty_note.visible = r.numbers["specs"] == 0
        rows = r.package_stack["package"].nunique()
        for name, pipe in self._pipes.items():
            if name == "package_stack" and rows != self._package_plot_rows:
                # the plot's height follows its number of packages: a new plot, which
                # starts from the pipe's data (no render of the old one first)
                pipe.update(data=r.package_stack)
                self._cell_pipe.update(data=self._cell_frame())
                self._package_plot(rows)
            else:
                pipe.send(getattr(r, name))
        if self._package_plot_rows == rows:
            self._cell_pipe.send(self._cell_frame())
        self.table.value = query.table_rows(s.index, r.mask)
        if s.cell:
            self.cell_note.object = html.escape(f"Table shows the cell: package {s.cell[0]}, stack {s.cell[1]}")
        else:
            self.cell_note.object = "Click a package x stack cell to show only its specs; click a row's arrow for its full hash."
        self.clear_cell.visible = s.cell is not None

    # -- layout ------------------------------------------------------------------
    def sidebar(self) -> list:
        """Sidebar components: selectors, search, top-N slider, reset."""
        return [self.search, *self.widgets.values(), self.top_n, self.reset]

    def main(self) -> list:
        """Main-area components: numbers, heatmaps, spec table, problems."""
        table_header = pn.FlexBox(
            self.row_count, self.cell_note, self.clear_cell, self.download, self.export,
            flex_wrap="wrap", align_items="center", sizing_mode="stretch_width",
        )
        return [
            pn.FlexBox(*self.numbers.values()),
            self.empty_note,
            self.view_picker,
            *self._heatmaps.values(),
            pn.pane.HTML(f"<small>{ROOT_NOTE}</small>", sizing_mode="stretch_width", css_classes=["root-note"]),
            pn.pane.Markdown("### Specs"),
            table_header,
            self.table,
            self.problems,
        ]

    def __panel__(self):
        return pn.Row(
            pn.Column(*self.sidebar(), width=320, sizing_mode="fixed"),
            pn.Column(*self.main(), sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )


def served_page(path: str | None = None) -> pn.template.BootstrapTemplate:
    """A page for ``panel serve``: the template shows load progress, then the dashboard.

    Loading runs in a thread so the progress bar updates; the data set is loaded
    once per process and shared by later sessions.  The page URL's query
    (``?tag=...&stack=...``) selects what it names and follows later changes;
    unknown values are ignored and listed in a warning at the top.
    """
    path = path or data_path()
    pn.extension(*EXTENSIONS, sizing_mode="stretch_width")
    # Bootstrap, not Fast: the Fast design always fetches a web font from the internet, and
    # the page must load nothing from outside the machine (air-gapped sites)
    template = pn.template.BootstrapTemplate(title=TITLE, sidebar_width=330, header_background="#0f5b97")
    bar = pn.indicators.Progress(name="Loading pages", value=-1, max=100, sizing_mode="stretch_width")
    text = pn.pane.Str(f"Loading build-cache pages from {path} ...")
    template.main.append(pn.Column(text, bar))
    # the template's own sidebar/main lists are fixed once rendered: fill Columns inside them
    sidebar = pn.Column(pn.pane.Markdown("Loading ..."), sizing_mode="stretch_width")
    template.sidebar.append(sidebar)
    # captured here: the load thread has no current session
    location, args = pn.state.location, dict(pn.state.session_args)

    def progress(done: int, total: int):
        bar.param.update(value=int(100 * done / max(total, 1)))
        text.object = f"Parsing pages: {done:,} / {total:,}"

    def fill() -> CacheDashboard | None:
        try:
            dashboard = CacheDashboard(shared_data(path, progress=progress))
        except Exception as exc:  # show it, never an error page
            logging.getLogger(__name__).exception("loading %s failed", path)
            text.object = f"Could not load {path}: {type(exc).__name__}: {exc}"
            bar.visible = False
            return None
        notices = dashboard.state.apply_url_query(args)
        # text from the URL is shown as text: escaped HTML, never Markdown (no links, no images)
        alert = [
            pn.pane.HTML(
                "<br>".join(html.escape(n) for n in notices),
                css_classes=["url-notice"],
                styles={"background": "#fff3cd", "color": "#664d03", "padding": "8px 12px", "border-radius": "4px"},
                sizing_mode="stretch_width",
            )
        ] if notices else []
        sidebar[:] = dashboard.sidebar()
        template.main[0][:] = alert + dashboard.main()
        return dashboard

    def follow(dashboard: CacheDashboard | None):
        if dashboard is not None and location is not None:
            dashboard.follow_url(location)

    # The URL is rewritten only once the browser has rendered the page and
    # reported its own URL, which would otherwise overwrite ours.
    if os.path.abspath(path) in _DATA:
        dashboard = fill()
        pn.state.onload(lambda: follow(dashboard))
    else:
        pn.state.onload(lambda: threading.Thread(target=lambda: follow(fill()), daemon=True).start())
    return template


if __name__.startswith("bokeh_app"):  # `panel serve dashboard/app.py`
    import dashboard.app as _shared  # the importable module owns the process-wide data cache

    _shared.served_page().servable(title=TITLE)
