"""Standalone HTML export that stays interactive offline.

The file holds Bokeh's JS/CSS inline and the selected spec rows as integer
category codes (binary arrays) plus the category labels.  A small client-side
callback (``_UPDATE_JS``) re-implements :func:`dashboard.domain.query.compute` for the
browser: every selector change recomputes the headline numbers, both heatmaps,
the spec table and each selector's option counts (under the other selections,
as in the served app); the table sorts by column header, filters by free text and
downloads the rows it shows as CSV.  No server, no network.
"""

from __future__ import annotations

import html
import os
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import numpy as np
from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.events import DocumentReady
from bokeh.layouts import column, row
from bokeh.models import (
    Button,
    ColumnDataSource,
    CustomJS,
    DataTable,
    Div,
    FactorRange,
    HTMLTemplateFormatter,
    InlineStyleSheet,
    LogColorMapper,
    MultiChoice,
    NumberFormatter,
    TableColumn,
    TextInput,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure
from bokeh.resources import Resources

from dashboard.model import CacheData
from dashboard.domain.query import Selection, index_for
from dashboard.core.spack import version_key
from dashboard.core.terms import COUNT_FORMAT, DIMENSIONS, HEATMAPS, LABELS, NUMBER_COLUMNS, NUMBER_TITLES, ROOT_STACK, SIZE_TEMPLATE, STACKS_LABEL, TABLE_COLUMNS, root_note, table_columns






class _BokehInline(Resources):
    """Bokeh's own JS and CSS, inline, and nothing else.

    Bokeh adds the ``__javascript__``/``__css__`` files of every model class
    imported in the process; in a Panel server those are Panel's extension
    files as CDN links (a Tabulator stylesheet, MathJax), which an air-gapped
    machine cannot load and this file does not use.
    """

    def __init__(self, components=None):
        super().__init__(mode="inline", components=components)

    def clone(self, *, components=None) -> "_BokehInline":
        """A copy with other components (Bokeh's own ``clone`` would drop this class)."""
        return _BokehInline(components=components if components is not None else list(self.components))

    def _collect_external_resources(self, resource_attr: str) -> list[str]:
        return []


def _static(name: str) -> str:
    """The text of ``dashboard/static/<name>`` (package data: JavaScript run in the export)."""
    return files("dashboard").joinpath("static", name).read_text(encoding="utf-8")


def _codes(series, key=str, reverse: bool = False) -> tuple[np.ndarray, list[str]]:
    """``int32`` codes and their labels, labels sorted by ``key`` (the selectors
    list them in this order; versions newest first)."""
    cat = series.astype("category").cat.remove_unused_categories()
    cat = cat.cat.reorder_categories(sorted(cat.cat.categories, key=key, reverse=reverse))
    return cat.cat.codes.to_numpy().astype(np.int32), [str(c) for c in cat.cat.categories]


def _heatmap(title: str, xlabel: str, ylabel: str, height: int, name: str):
    """A log-colour heatmap figure fed by a source named ``name`` (``x``, ``y``, ``count``)."""
    source = ColumnDataSource(data={"x": [], "y": [], "count": []}, name=name)
    mapper = LogColorMapper(palette=Viridis256, low=1, high=1)  # log, as the served app's heatmaps
    fig = figure(
        title=title,
        x_range=FactorRange(factors=["(none)"]),
        y_range=FactorRange(factors=["(none)"]),
        height=height,
        sizing_mode="stretch_width",
        tools="hover,save,reset,pan,wheel_zoom",
        tooltips=[(ylabel, "@y"), (xlabel, "@x"), ("specs", "@count")],
        x_axis_label=xlabel,
        y_axis_label=ylabel,
    )
    fig.toolbar.active_scroll = None  # the wheel scrolls the page; zoom after a click on the wheel-zoom tool
    fig.rect(x="x", y="y", width=1, height=1, source=source, fill_color={"field": "count", "transform": mapper}, line_color=None)
    fig.xaxis.major_label_orientation = 1.1
    fig.grid.grid_line_color = None
    return fig, source, mapper


def export_html(
    data: CacheData,
    path: str | os.PathLike,
    tag: list[str] | None = None,
    mask: np.ndarray | None = None,
    selection: Selection | None = None,
) -> dict:
    """Write an offline, interactive dashboard of ``data`` to ``path``.

    Args:
        data: the loaded build cache.
        path: HTML file to write.
        tag: only these tags (default: all).
        mask: boolean array over ``data.specs``: only these spec rows (e.g. the
            app's current selection).
        selection: the selection ``mask`` came from: the file opens with the
            same selectors set (a clicked heatmap cell's stack becomes a stack
            filter), so its numbers equal the app's.

    Returns:
        ``{"bytes": file size, "specs": spec rows embedded, "packages": distinct packages}``.

    Raises:
        ValueError: ``tag`` names a tag that is not in ``data``.
        OSError: the file cannot be written.
    """
    specs = data.specs
    if tag:
        unknown = sorted(set(tag) - set(data.tags))
        if unknown:
            raise ValueError(f"tag(s) not in {data.source or 'the data'}: {', '.join(unknown)} (tags present: {', '.join(data.tags) or 'none'})")
    if selection is not None and selection.cell is not None:  # the cell's stack, as a filter the file can show
        selection = replace(selection, stack=tuple(dict.fromkeys((*selection.stack, selection.cell[1]))), cell=None)
    keep = np.ones(len(specs), dtype=bool) if mask is None else np.asarray(mask, dtype=bool).copy()
    if tag:
        keep &= specs["tag"].isin(tag).to_numpy()
    order = index_for(data).table_order  # the spec table's order: package, then version newest first
    old_ids = order[keep[order]]
    sub = specs.iloc[old_ids]
    new_id = np.full(len(specs), -1, dtype=np.int64)
    new_id[old_ids] = np.arange(len(old_ids))
    ss = data.spec_stacks
    ss_new = new_id[ss["spec"].to_numpy()]
    in_sub = ss_new >= 0
    raw, cats = {}, {}
    tcols = table_columns(sub.columns)
    for col in ("tag", "package", "version", "compiler", "os", "target", "variants", "stacks", *tcols[len(TABLE_COLUMNS):]):
        raw[col], cats[col] = _codes(sub[col], version_key, True) if col == "version" else _codes(sub[col])
    raw["hash"] = sub["hash"].astype(str).tolist()
    for col in NUMBER_COLUMNS:  # -1: unknown
        raw[col] = sub[col].fillna(-1).to_numpy(dtype=np.float64)
    stack_codes, cats["stack"] = _codes(ss["stack"][in_sub])
    raw_src = ColumnDataSource(data=raw, name="raw")
    stk_src = ColumnDataSource(data={"spec": ss_new[in_sub].astype(np.int32), "stack": stack_codes}, name="stk")

    widgets = {}
    for dim in DIMENSIONS:
        counts = (
            sub[dim].astype(str).value_counts()
            if dim != "stack"
            else ss["stack"][in_sub].astype(str).value_counts()
        )
        order = cats[dim]  # the codes' order: sorted, versions newest first
        options = [(v, html.escape(f"{v} ({int(counts.get(v, 0)):,})")) for v in order]
        chosen = [v for v in (selection.values(dim) if selection else ()) if v in counts.index]
        widgets[dim] = MultiChoice(title=LABELS[dim], options=options, value=chosen, placeholder="all", name=dim, sizing_mode="stretch_width")
    widgets["package"] = TextInput(
        title="Package name contains", value=selection.package if selection else "", placeholder="e.g. py-", name="package", sizing_mode="stretch_width"
    )
    topn = TextInput(title="Packages on the heatmap (top N)", value="30", name="topn", sizing_mode="stretch_width")
    nums = Div(text="", name="numbers", sizing_mode="stretch_width")
    heights = {"package_stack": 650, "os_target": 360, "stack_tag": 140 + 16 * len(cats["stack"])}
    (f1, hm1, m1), (f2, hm2, m2), (f3, hm3, m3) = [_heatmap(h.title, h.x, h.y, heights[h.result], h.result) for h in HEATMAPS]
    table_src = ColumnDataSource(data={c: [] for c in tcols}, name="table")
    table = DataTable(
        source=table_src,
        columns=[
            TableColumn(field=c, title=c)
            if c not in NUMBER_COLUMNS
            else TableColumn(field=c, title=NUMBER_TITLES[c], formatter=HTMLTemplateFormatter(template=SIZE_TEMPLATE) if c == "size"
                             else NumberFormatter(format=COUNT_FORMAT, nan_format="-", null_format="-", text_align="right"))
            for c in tcols
        ],
        sortable=True,
        height=520,
        sizing_mode="stretch_width",
        index_position=None,
        name="spec_table",
    )
    tfilter = TextInput(title="Filter table rows (any column contains)", value="", name="table_filter", sizing_mode="stretch_width")
    # Bokeh's primary blue (#428bca) on white text is 3.6:1; WCAG AA asks 4.5:1 (axe, tests/test_a11y.py)
    csv = Button(label="Download CSV (rows in the table)", button_type="primary", name="csv",
                 stylesheets=[InlineStyleSheet(css=".bk-btn-primary { background-color: #1f5f99; border-color: #1a507f; }")])
    update = CustomJS(
        args=dict(
            raw=raw_src, stk=stk_src, cats=cats, w=widgets, nums=nums, hm1=hm1, f1=f1, m1=m1, hm2=hm2, f2=f2, m2=m2, hm3=hm3, f3=f3, m3=m3,
            table=table_src, tcols=tcols, ncols=list(NUMBER_COLUMNS), tfilter=tfilter, topnBox=topn, rootStack=ROOT_STACK, stacksLabel=STACKS_LABEL,
        ),
        code=_static("export_update.js"),
    )
    for widget in widgets.values():
        widget.js_on_change("value", update)
    for box in (topn, tfilter):
        box.js_on_change("value", update)
    csv.js_on_event("button_click", CustomJS(args=dict(table=table_src, tcols=tcols), code=_static("export_csv.js")))
    header = Div(
        text=f"<h2>Spack build cache</h2><p>Offline snapshot of <code>{len(sub):,}</code> specs "
        f"from {sub['tag'].nunique()} tag(s). Selectors, heatmaps and the table work without a server.</p>",
        sizing_mode="stretch_width",
    )
    sidebar = column(*widgets.values(), topn, width=300)
    note = Div(text=f"<small>{html.escape(root_note(data.spec_stacks['stack'].cat.categories))}</small>", sizing_mode="stretch_width")
    main = column(header, nums, f1, f2, f3, note, tfilter, row(csv), table, sizing_mode="stretch_width")
    layout = row(sidebar, main, sizing_mode="stretch_width")
    doc = Document()
    doc.add_root(layout)
    doc.js_on_event(DocumentReady, update)
    page = file_html(doc, resources=_BokehInline(), title="Spack build cache (offline)")
    Path(path).write_text(page, encoding="utf-8")
    return {"bytes": Path(path).stat().st_size, "specs": int(len(sub)), "packages": int(sub["package"].nunique())}
