"""View builders: hvPlot heatmaps and Tabulator tables from query results.

Each function takes plain DataFrames (from :mod:`dashboard.domain.query`) and returns a
HoloViews element or a Panel widget; none of them holds state.  Text that comes
from pages (package names, variants, compilers) is rendered as plain text:
Tabulator's default ``plaintext`` formatter escapes markup and Bokeh tooltips
render field values as text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import holoviews as hv
import numpy as np
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd
from bokeh.models import ColorBar, ColumnDataSource, PrintfTickFormatter, Rect, Scatter
from bokeh.plotting import figure
from bokeh.models.widgets.tables import HTMLTemplateFormatter, NumberFormatter
import panel as pn
import param

from dashboard.core.terms import ALARMING_SIGNATURES, COUNT_FORMAT, cell_size_text, NUMBER_COLUMNS, NUMBER_TITLES, SIGNATURE_COLUMN, SIZE_TEMPLATE

HEATMAP_CMAP = "viridis"
ROW_PX = 16  # vertical pixels per heatmap row, keeps package labels readable
COLUMN_PX = 12  # horizontal pixels per heatmap column at least
CHAR_PX = 7  # width of one axis-label character (11 px sans-serif), for the label margins
#: An empty row of a heatmap sized for more rows than it shows (:func:`update_heatmap`'s
#: ``slots``): zero-width spaces, a different count each, so no package name equals one
#: and the axis prints nothing there.
BLANK_ROW = "\u200b"


def is_blank_row(factor: str) -> bool:
    """``factor`` is a heatmap axis factor that names nothing: the empty plot's ``""``
    or an empty row (:data:`BLANK_ROW`)."""
    return not factor.replace(BLANK_ROW, "")


def heatmap_height(n_rows: int, x_label_chars: int = 12, minimum: int = 200, maximum: int = 6000) -> int:
    """Pixel height of a heatmap that gives each of ``n_rows`` categorical rows
    :data:`ROW_PX` px of drawing area, above x labels of up to ``x_label_chars``
    characters (rotated 60 degrees) and the title."""
    labels = int(CHAR_PX * 0.87 * x_label_chars) + 40  # rotated labels' height + axis title
    return int(min(max(minimum, 50 + labels + ROW_PX * n_rows), maximum))


def heatmap_min_width(n_cols: int, y_label_chars: int = 12) -> int:
    """Smallest pixel width of a heatmap that gives each of ``n_cols`` columns
    :data:`COLUMN_PX` px, beside y labels of up to ``y_label_chars`` characters,
    the colour bar and the toolbar."""
    return int(COLUMN_PX * n_cols + CHAR_PX * y_label_chars + 110)


def longest(labels) -> int:
    """Characters in the longest of ``labels`` (0 for none)."""
    return max((len(str(v)) for v in labels), default=0)


def _empty_or(counts: pd.DataFrame, x: str, y: str, title: str) -> tuple[pd.DataFrame, str, int]:
    """(counts, title, top of the colour range) of a heatmap: an empty frame gets typed
    columns and a title saying so; the colour range goes from 1 to at least 10 (integer
    ticks, and an empty plot still has a range)."""
    if counts.empty:
        counts = pd.DataFrame({x: pd.Series([], dtype="string"), y: pd.Series([], dtype="string"), "count": pd.Series([], dtype="int64"),
                               **({"bytes": pd.Series([], dtype="float64"), "sized": pd.Series([], dtype="int64")} if "bytes" in counts else {})})
        title = f"{title}: no specs match this selection"
    if "bytes" in counts:  # the hover's size: bytes of the known sizes, and how many are unknown
        # object, not pandas' string dtype: HoloViews reshapes the value columns into a grid
        counts = counts.assign(size=pd.Series([cell_size_text(b, k, n) for b, k, n in zip(counts["bytes"], counts["sized"], counts["count"])],
                                              index=counts.index, dtype=object))
    high = max(int(counts["count"].max()) if len(counts) else 1, 10)
    return counts, title, high


def _factors(counts: pd.DataFrame, x: str, y: str, x_order, y_order) -> tuple[list[str], list[str]]:
    """(x factors left to right, y factors bottom to top): Bokeh draws the first y factor
    at the bottom, so ``y_order`` (top to bottom, default sorted) is reversed."""
    columns = list(x_order) if x_order is not None else sorted(counts[x].unique())
    rows = list(y_order) if y_order is not None else sorted(counts[y].unique())
    return [str(c) for c in columns], [str(r) for r in reversed(rows)]


def heatmap(
    counts: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    y_order: list[str] | None = None,
    x_order: list[str] | None = None,
    height: int | None = None,
    min_width: int | None = None,
) -> hv.HeatMap:
    """A spec-count heatmap.

    Args:
        counts: long DataFrame with columns ``x``, ``y`` (str) and ``count`` (int, specs),
            optionally ``bytes`` (float, known sizes summed) and ``sized`` (int, specs of
            known size): the hover then names the cell's size too.
        x, y: column names for the axes.
        title: plot title.
        y_order: top-to-bottom order of the ``y`` categories (default: sorted).
        x_order: left-to-right order of the ``x`` categories (default: sorted).
        height: plot height in pixels (default: :func:`heatmap_height` of the rows).
        min_width: plot width in pixels at least (default: :func:`heatmap_min_width`
            of the columns); the plot stretches to its container's width above it.

    Returns:
        A :class:`holoviews.HeatMap` on a log colour scale (the ``root`` stack
        holds every spec and would otherwise flatten every other cell) whose
        colour bar starts at 1 spec and ticks at powers of ten, with a hover
        tooltip naming the cell (``y``, ``x``, specs) and tap selection.  An
        empty frame gives an empty plot whose title says so.  The served app
        draws it once per session (:func:`heatmap_figure`) and then only puts new
        counts into the drawing (:func:`update_heatmap`).
    """
    counts, title, high = _empty_or(counts, x, y, title)
    n_rows = counts[y].nunique()
    plot = counts.hvplot.heatmap(
        x=x,
        y=y,
        C="count",
        cmap=HEATMAP_CMAP,
        title=title,
        colorbar=True,
        responsive=True,
        height=height or heatmap_height(n_rows, longest(counts[x].unique())),
        tools=["hover", "tap"],
        hover_cols=["size"] if "size" in counts else [],
        hover_tooltips=[(y, f"@{{{y}}}"), (x, f"@{{{x}}}"), ("specs", "@{count}"), *([("size", "@{size}")] if "size" in counts else [])],
        xlabel=x,
        ylabel=y,
        rot=60,
        clabel="specs (log scale)",
        logz=True,
        clim=(1, high),
    )
    columns, rows = _factors(counts, x, y, x_order, y_order)
    return plot.redim.values(**{y: rows, x: columns}).opts(
        default_tools=["save", "reset", "pan", "wheel_zoom"],
        # the wheel scrolls the page: zooming with it waits for a click on its tool
        active_tools=["pan"],
        hooks=[wheel_scrolls_the_page],
        nonselection_alpha=1.0,
        selection_alpha=1.0,
        framewise=True,
        axiswise=True,
        # 1, 10, 100 (not 10^0); narrow, to leave the cells their width in narrow windows
        colorbar_opts={"formatter": PrintfTickFormatter(format="%d"), "width": 10, "padding": 2, "label_standoff": 4},
        min_height=200,
        # a few hundred rectangles: canvas draws them at once, while WebGL (HoloViews'
        # default) costs more, most of all on machines without a GPU (remote desktops)
        backend_opts={"plot.output_backend": "canvas"},
        min_width=min_width or heatmap_min_width(counts[x].nunique(), longest(counts[y].unique())),
    )


def wheel_scrolls_the_page(plot, element) -> None:
    """HoloViews hook: no scroll tool is active (Bokeh's ``"auto"`` makes the wheel
    zoom the plot under the pointer and stop the page scrolling); the wheel-zoom tool
    stays in the toolbar, on after a click."""
    plot.state.toolbar.active_scroll = None


def mark_cells(fig: figure, x: str, y: str, cells: pd.DataFrame) -> None:
    """Add to ``fig`` (a :func:`heatmap_figure`) an outlined square on each cell of
    ``cells`` (columns ``x``, ``y``; empty: no marker), to show the clicked cell; moved
    by :func:`update_heatmap`.  A Bokeh glyph on the drawn heatmap rather than a
    HoloViews overlay: drawing an overlay costs each new session ~30 ms more.  Not
    hovered, not tapped: HoloViews binds the figure's hover and tap tools to the
    heatmap's cells."""
    source = ColumnDataSource({x: cells[x].astype(str).tolist(), y: cells[y].astype(str).tolist()})
    fig.scatter(x=x, y=y, source=source, marker="square", size=20, fill_alpha=0, line_color="#e8175d", line_width=3, nonselection_alpha=1.0)


def heatmap_figure(element: hv.Element) -> figure:
    """The Bokeh figure HoloViews draws for a :func:`heatmap`: drawn once, then updated
    by :func:`update_heatmap`."""
    return hv.render(element, backend="bokeh")


def heatmap_cells(fig: figure) -> ColumnDataSource:
    """The data source of the heatmap's cells in ``fig`` (a :func:`heatmap_figure`):
    columns ``x``, ``y`` (names), ``count`` (specs), ``zvalues`` (colour); tapping a
    cell selects its row (``source.selected.indices``)."""
    return next(r.data_source for r in fig.renderers if isinstance(r.glyph, Rect))


def update_heatmap(
    fig: figure,
    counts: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    y_order: list[str] | None = None,
    x_order: list[str] | None = None,
    height: int | None = None,
    cells: pd.DataFrame | None = None,
    slots: int | None = None,
) -> None:
    """Draw new ``counts`` on ``fig`` (a :func:`heatmap_figure` of a :func:`heatmap`
    with the same ``x``, ``y``): cells, axis factors, colour range, title, and with
    ``height`` the plot's height; ``cells`` (columns ``x``, ``y``) moves the
    :func:`mark_cells` marker when the figure has one; with ``slots`` the y axis keeps
    that many rows, those with no data (:data:`BLANK_ROW`) below the others, so rows keep
    their size in a plot whose height does not change.  The same drawing as a new
    :func:`heatmap` of ``counts`` (but for the empty rows), without HoloViews re-planning
    the plot: only the changed Bokeh properties go to the browser."""
    counts, title, high = _empty_or(counts, x, y, title)
    columns, rows = _factors(counts, x, y, x_order, y_order)
    source = heatmap_cells(fig)
    n = counts["count"].to_numpy(dtype="float64")
    source.selected.indices = []
    source.data = {x: counts[x].astype(str).tolist(), y: counts[y].astype(str).tolist(), "zvalues": n, "count": counts["count"].astype("int64").tolist(),
                   **({"size": counts["size"].tolist()} if "size" in counts and "size" in source.data else {})}
    # an empty plot keeps one blank factor: Bokeh draws no axis without any
    fig.x_range.factors = columns or [""]
    rows = rows or [""]
    if slots is not None and len(rows) < slots:  # Bokeh lists y factors from the bottom up
        rows = [BLANK_ROW * k for k in range(slots - len(rows), 0, -1)] + rows
    fig.y_range.factors = rows
    fig.title.text = title
    for bar in fig.right:
        if isinstance(bar, ColorBar):
            bar.color_mapper.high = high
    if height is not None and fig.height != height:
        fig.height = height
    if cells is not None:
        for r in fig.renderers:
            if isinstance(r.glyph, Scatter):
                r.data_source.data = {x: cells[x].astype(str).tolist(), y: cells[y].astype(str).tolist()}


class _Positions(Mapping):
    """Row position -> index label of a frame's index, read when asked (a lazy
    ``dict(enumerate(index))``)."""

    def __init__(self, index: pd.Index):
        self._index = index

    def __getitem__(self, position):
        if not isinstance(position, (int, np.integer)) or not 0 <= position < len(self._index):
            raise KeyError(position)
        return self._index[position]

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self):
        return iter(range(len(self._index)))


#: Inline code in the views' prose (``--sizes``) in the text's own colour on a grey tint:
#: Panel's Markdown sheet colours it a light blue that fails contrast on a light page.
CODE_CSS = "code { color: inherit; background: rgba(127, 127, 127, 0.18); padding: 0 0.25em; border-radius: 3px; }"


class ChangesSkipDesign:
    """Mixin for a Panel component that changes after each pick: a change of its
    parameters is sent without asking the page design for its style sheets first.

    Panel's ``Reactive._update_properties`` asks the design (``Design.params``) at every
    parameter change, and only uses its answer when the change is to ``stylesheets``;
    the asking resolves the theme's file paths on disk (``os.path.isfile``) each time:
    ~0.17 ms a call in process, ~22 calls a pick with its relabelling.  A change to
    ``stylesheets`` still goes through Panel."""

    def _update_properties(self, *events, doc):
        if any(e.name == "stylesheets" for e in events):
            return super()._update_properties(*events, doc=doc)
        return self._process_param_change({e.name: e.new for e in events})


class TextPane(ChangesSkipDesign, pn.pane.HTML):
    """An HTML pane for text that changes (numbers, notes, counts): a new ``object``
    sends the browser its new text, never its style sheets again.

    Panel's HTML pane sends every property at each change, style sheets included, and
    those it sends then hold the whole page design's (Bootstrap's 221 kB) though the
    page first drew the pane without them.  In Chromium the first pick after a page
    loads then cost ~85 ms more (style sheets fetched and applied in each changed pane),
    and each later change restyled the pane against the whole design.  The pane keeps
    the style sheets it was first drawn with.  A new ``object`` (or the sanitizing
    options, the HTML pane's other ``_rerender_params``) changes only the ``text``."""

    def _update(self, ref, model) -> None:
        model.update(**self._process_param_change({"object": self.object}))


class HeadlineNumber(ChangesSkipDesign, pn.indicators.Number):
    """Panel's ``Number`` indicator, its value changes sent without asking the design
    (see :class:`ChangesSkipDesign`)."""


class VersionSortedTabulator(pn.widgets.Tabulator):
    """A :class:`panel.widgets.Tabulator` whose server-side sort orders a
    categorical column by its categories, not as text: the ``version`` column's
    categories are in Spack's version order (see :mod:`dashboard.core.spack`), so
    sorting by version gives ``develop``, ``2023.02.20``, ``39.2.0``, ``7.0.2``.
    Other columns sort as Tabulator does (text case-insensitively).  Updates cost
    the shown page, not the number of rows (see ``_update_index_mapping``).
    ``min_widths`` keeps columns at least as wide as their titles (:func:`title_widths`);
    ``grow`` shares the width left over between the columns (Tabulator's ``widthGrow``,
    default 1), so with ``layout="fit_columns"`` the columns fill the table and never
    overflow it while their least widths fit."""

    min_widths = param.Dict(default={}, doc="column -> least width in pixels")
    grow = param.Dict(default={}, doc="column -> its share of the width left over (Tabulator's widthGrow)")
    _rename = {**pn.widgets.Tabulator._rename, "min_widths": None, "grow": None}

    def _get_configuration(self, columns):
        # Panel merges configuration["columns"] into its own by position, one off beside
        # a row expander (a column's settings land on its neighbour): set them by field
        configuration = super()._get_configuration(columns)
        for column in configuration.get("columns", []):
            if not isinstance(column, dict):
                continue
            if column.get("field") in self.min_widths:
                column["minWidth"] = self.min_widths[column["field"]]
            if column.get("field") in self.grow:
                column["widthGrow"] = self.grow[column["field"]]
        return configuration

    def _update_index_mapping(self):
        # Panel maps every row position to its index label in a dict at each update: 0.5 s
        # at 2M rows, for looking up the one row of a click.  Look it up when it is asked.
        processed = self._processed
        self._index_mapping = _Positions(processed.index if isinstance(processed, pd.DataFrame) else pd.RangeIndex(0))

    def _sort_df(self, df: pd.DataFrame) -> pd.DataFrame:
        if not self.sorters:
            return df

        def key(col: pd.Series) -> pd.Series:
            if isinstance(col.dtype, pd.CategoricalDtype):
                return pd.Series(col.cat.codes, index=col.index)
            if col.dtype.kind in "SUO" or pd.api.types.is_string_dtype(col.dtype):
                return col.astype(str).str.lower()
            return col

        fields = [s["field"] for s in self.sorters if s.get("field") in df.columns]
        ascending = [s["dir"] == "asc" for s in self.sorters if s.get("field") in df.columns]
        return df.sort_values(fields, ascending=ascending, kind="mergesort", key=key) if fields else df


def copy_button(text: str) -> str:
    """HTML of a *copy* button putting ``text`` on the clipboard (escaped)."""
    return (f'<button class="copy-cmd" data-cmd="{html.escape(text, quote=True)}" '
            'onclick="navigator.clipboard.writeText(this.dataset.cmd);this.textContent=\'copied\'" '
            'style="font-size:11px;margin-left:6px;padding:0 6px">copy</button>')


def spec_detail(row: pd.Series, commands=(), ancestors=(), dependencies=None, signer: str = "", warnings=()) -> pn.pane.HTML:
    """The expanded view of one spec-table row: the full hash (one click selects
    it for copying), every variant, the target's ancestors, the commands that
    install the binary (each with a *copy* button) and, where the source names
    them (mirrors), its dependency tree with whether each is a binary here.

    Args:
        row: a spec row (:data:`dashboard.core.terms.TABLE_COLUMNS`).
        commands: shell commands (see :func:`dashboard.domain.howto.install_commands`).
        ancestors: the target and its ancestors (:func:`dashboard.core.compat.ancestors`).
        dependencies: the tree as :func:`dashboard.domain.howto.dependency_tree` gives it.
        signer: fingerprint of the key that signed the binary's manifest (``--verify``).
        warnings: why a command is withheld or quoted (from ``install_commands``), shown
            above the commands.
    """
    def cell(name: str) -> str:
        value = row.get(name)
        return "-" if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA else html.escape(str(value))

    size = row.get("size")
    size_text = "size unknown" if size is None or pd.isna(size) else f"{int(size):,} bytes"
    lines = [
        f'<div><b>hash</b> <code class="spec-hash" style="user-select:all">{cell("hash")}</code></div>',
        f'<div><b>{cell("package")}@{cell("version")}</b> %{cell("compiler")} os={cell("os")} target={cell("target")} ({size_text})</div>',
        f'<div><b>variants</b> <span class="spec-variants">{cell("variants") or "(none)"}</span></div>',
        f'<div><b>stacks</b> {cell("stacks")} &middot; <b>tag</b> {cell("tag")}</div>',
    ]
    if row.get(SIGNATURE_COLUMN) is not None:
        status = str(row.get(SIGNATURE_COLUMN))
        colour = "#b02a37" if status in ALARMING_SIGNATURES else "#212529"
        lines.append(f'<div class="spec-signature" style="color:{colour}"><b>signature</b> {html.escape(status)}'
                     + (f' by <code>{html.escape(signer.upper())}</code>' if signer else "") + "</div>")
    if len(ancestors) > 1:
        lines.append(f'<div><b>runs on</b> {html.escape(ancestors[0])} and every descendant of it '
                     f'(its ancestors: {html.escape(", ".join(ancestors[1:]))})</div>')
    for warning in warnings:
        lines.append(f'<div class="command-warning" style="color:#b02a37"><b>warning</b> {html.escape(warning)}</div>')
    for command in commands:
        lines.append(f'<div><code class="install-cmd" style="user-select:all">{html.escape(command)}</code>{copy_button(command)}</div>')
    tree = list(dependencies or [])
    if tree:
        direct = sum(1 for node in tree if node[0] == 1)
        items = "".join(
            f'<div style="margin-left:{16 * depth}px">{html.escape(name)}/<code>{html.escape(dep_hash[:7])}</code>'
            f' <small>{html.escape(types)}</small>{"" if status == "binary" else f" <i>({status}: no binary)</i>"}{" (above)" if again else ""}</div>'
            for depth, name, dep_hash, types, status, again in tree
        )
        lines.append(f'<div class="spec-deps"><b>dependencies</b> ({direct} direct, {len(tree)} shown){items}</div>')
    height = 34 + 24 * len(lines) + 20 * len(tree)
    return pn.pane.HTML(
        '<div class="spec-detail" style="color:#212529;background:#f8f9fa;font-size:13px;line-height:1.7;padding:4px 8px">'
        + "\n".join(lines) + "</div>",
        sizing_mode="stretch_width",
        height=height,
        margin=(4, 12),
    )


#: Spec table columns whose text wraps rather than being cut (tags share long prefixes).
WRAPPED_COLUMNS = ("tag", "package", "version", "compiler", "os", "target")

#: Wrapped cells break anywhere when they must (``develop-2025-03-23`` in a narrow
#: column); titles wrap between words.
WRAP_CSS = "".join(
    f".tabulator-cell[tabulator-field='{c}'] {{ white-space: normal !important; overflow-wrap: anywhere; }}" for c in WRAPPED_COLUMNS
) + ".tabulator-col-title { white-space: normal !important; }"

#: Heights in the spec table (pixels, Panel's default Tabulator theme in Chromium): the
#: header with its filter row, one row, the pagination footer.
TABLE_HEADER_PX, TABLE_ROW_PX, TABLE_FOOTER_PX = 72, 34, 49


#: Width of a character of a bold column title, and of the sort arrow and padding beside
#: it, in pixels (Bootstrap's 14 px bold sans-serif): a column is never narrower than its title.
HEADER_CHAR_PX, HEADER_EXTRA_PX = 9.6, 46


def title_widths(fields, titles: dict | None = None, least: int = 72) -> list[dict]:
    """Tabulator column definitions ``[{"field", "minWidth"}]`` (pixels) keeping each of
    ``fields`` at least as wide as its title (``titles`` maps a field to its title; default
    the field's name) with its sort arrow, and at least ``least``: no title is cut short."""
    titles = titles or {}
    return [{"field": str(f), "minWidth": max(least, round(HEADER_CHAR_PX * len(str(titles.get(f, f)))) + HEADER_EXTRA_PX)}
            for f in fields]


def spec_table(rows: pd.DataFrame, page_size: int = 20, row_content=spec_detail,
               filters: dict[str, str] | None = None) -> VersionSortedTabulator:
    """The filterable spec table (server-side pagination).

    Args:
        rows: spec rows with :data:`dashboard.domain.query.TABLE_COLUMNS`.
        filters: header filters in force when the browser first draws the table,
            column -> text the cell contains (case ignored); ``rows`` are already
            filtered by them (the selection's ``columns``).

    Returns:
        A read-only :class:`VersionSortedTabulator` with header filters on every text
        column, sorting (versions in Spack's order), remote pagination (only
        the visible page is sent to the browser, so millions of rows stay
        responsive), every column fitted to the width with its full text as
        a tooltip, and a row expander (click a row's arrow) showing
        ``row_content`` (default :func:`spec_detail`): the full hash, ready to
        copy, all variants, the install commands.  Its height is fixed to a full
        page (an expanded row scrolls inside it): a page of other rows then lays
        out the table alone, not the page around it (~30 ms less per selector
        pick in Chromium), and nothing below it moves.
    """
    text_filter = {"type": "input", "func": "like", "placeholder": "filter"}
    return VersionSortedTabulator(
        rows,
        pagination="remote",
        page_size=page_size,
        height=TABLE_HEADER_PX + page_size * TABLE_ROW_PX + TABLE_FOOTER_PX,
        show_index=False,
        disabled=True,
        selectable=False,
        layout="fit_columns",  # every column in view at 1400 px; narrower windows scroll sideways
        # no popups to place (read-only, header filters are inputs): without this Panel adds
        # an empty last column that is 10 px wide with its padding and overflows the table
        container_popup=False,
        header_filters={c: text_filter for c in rows.columns if c not in NUMBER_COLUMNS},
        # pages write "-" for an unknown size (and name no dependencies): show "-", not NaN
        formatters={
            "n_deps": NumberFormatter(format=COUNT_FORMAT, nan_format="-", null_format="-", text_align="right"),
            # never cut to ambiguity (develop-2025-03-23 and develop-2025-03-30 both read
            # "develop-2..." cut): these wrap inside their column instead
            **{c: {"type": "textarea"} for c in WRAPPED_COLUMNS if c in rows.columns},
            # KiB/MiB/GiB, the bytes on hover; the value stays the number, so it sorts by bytes
            "size": HTMLTemplateFormatter(template=SIZE_TEMPLATE),
            # a bad signature or an unknown key in red, never blending in
            **({SIGNATURE_COLUMN: HTMLTemplateFormatter(template=(
                "<span style=\"<%= " + " || ".join(f"value == '{s}'" for s in ALARMING_SIGNATURES)
                + " ? 'color:#b02a37;font-weight:bold' : '' %>\"><%- value %></span>"))} if SIGNATURE_COLUMN in rows.columns else {}),
        },
        titles=NUMBER_TITLES,
        # the width left over after each column's least width, shared: text that wraps
        # or runs long (variants, stacks, tag names) gets more
        grow={"package": 2, "compiler": 2, "variants": 3, "stacks": 2, "tag": 2},
        # each column at least as wide as its title and sort arrow: never "versio", "pac..."
        # (narrow windows scroll the table sideways instead)
        min_widths={c["field"]: c["minWidth"] for c in title_widths(rows.columns, NUMBER_TITLES)},
        configuration={
            # (no default least width: the row expander's arrow keeps Panel's 40 px, the data
            # columns have theirs from their titles)
            "columnDefaults": {"tooltip": True, "headerTooltip": True, "headerWordWrap": True},
            # the header's inputs start with the filters in force: the browser reports what
            # they show once it has drawn them, and empty inputs would clear the selection's
            **({"initialHeaderFilter": [{"field": k, "value": v} for k, v in filters.items()]} if filters else {}),
        },
        filters=[{"field": k, "type": "like", "value": v} for k, v in (filters or {}).items()],
        stylesheets=[WRAP_CSS],
        row_content=row_content,
        embed_content=False,
        sizing_mode="stretch_width",
        css_classes=["spec-table"],
    )


def problems_table(problems: pd.DataFrame) -> pn.widgets.Tabulator:
    """Pages that failed or disagree with themselves: ``severity``, ``path``, ``problem``."""
    return pn.widgets.Tabulator(
        problems[["severity", "path", "problem"]],
        pagination="local",
        page_size=10,
        show_index=False,
        disabled=True,
        selectable=False,
        layout="fit_data_table",
        sizing_mode="stretch_width",
        css_classes=["problems-table"],
    )
