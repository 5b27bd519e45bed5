"""View builders: hvPlot heatmaps and Tabulator tables from query results.

Each function takes plain DataFrames (from :mod:`dashboard.query`) and returns a
HoloViews element or a Panel widget; none of them holds state.  Text that comes
from pages (package names, variants, compilers) is rendered as plain text:
Tabulator's default ``plaintext`` formatter escapes markup and Bokeh tooltips
render field values as text.
"""

from __future__ import annotations

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd
from bokeh.models.widgets.tables import NumberFormatter
import panel as pn

from .query import TABLE_COLUMNS

HEATMAP_CMAP = "viridis"
ROW_PX = 16  # vertical pixels per heatmap row, keeps package labels readable


def heatmap_height(n_rows: int, minimum: int = 260, maximum: int = 4000) -> int:
    """Pixel height that gives each of ``n_rows`` categorical rows ~16 px."""
    return int(min(max(minimum, 110 + ROW_PX * n_rows), maximum))


def stack_order(stacks) -> list[str]:
    """Stacks sorted by name, with ``root`` (the union of all stacks) last."""
    return sorted(set(stacks), key=lambda s: (s == "root", s))


def heatmap(
    counts: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    y_order: list[str] | None = None,
    x_order: list[str] | None = None,
    height: int | None = None,
) -> hv.HeatMap:
    """A spec-count heatmap.

    Args:
        counts: long DataFrame with columns ``x``, ``y`` (str) and ``count`` (int, specs).
        x, y: column names for the axes.
        title: plot title.
        y_order: top-to-bottom order of the ``y`` categories (default: sorted).
        x_order: left-to-right order of the ``x`` categories (default: sorted).
        height: plot height in pixels (default: :func:`heatmap_height` of the rows).

    Returns:
        A :class:`holoviews.HeatMap` with hover, tap selection and a colour bar;
        an empty frame shows an empty plot with the title saying so.
    """
    if counts.empty:
        counts = pd.DataFrame({x: pd.Series([], dtype=str), y: pd.Series([], dtype=str), "count": pd.Series([], dtype="int64")})
        title = f"{title} (no specs in the selection)"
    n_rows = counts[y].nunique()
    plot = counts.hvplot.heatmap(
        x=x,
        y=y,
        C="count",
        cmap=HEATMAP_CMAP,
        title=title,
        colorbar=True,
        responsive=True,
        height=height or heatmap_height(n_rows),
        tools=["tap"],
        xlabel=x,
        ylabel=y,
        rot=60,
        clabel="specs (log scale)",
        # log: the root stack (every spec) and big packages would otherwise leave
        # every other cell the same dark colour
        logz=True,
    )
    order = y_order if y_order is not None else sorted(counts[y].unique())
    # Bokeh draws the first factor at the bottom: reverse for top-to-bottom order.
    columns = x_order if x_order is not None else sorted(counts[x].unique())
    return plot.redim.values(**{y: list(reversed(order)), x: list(columns)}).opts(
        default_tools=["hover", "save", "reset", "pan", "wheel_zoom"],
        nonselection_alpha=1.0,
        framewise=True,
        axiswise=True,
        min_height=260,
    )


def spec_table(rows: pd.DataFrame, page_size: int = 20) -> pn.widgets.Tabulator:
    """The filterable spec table (server-side pagination).

    Args:
        rows: spec rows with :data:`dashboard.query.TABLE_COLUMNS`.

    Returns:
        A read-only :class:`panel.widgets.Tabulator` with header filters on
        every text column, sorting, and remote pagination (only the visible page
        is sent to the browser, so millions of rows stay responsive).
    """
    text_filter = {"type": "input", "func": "like", "placeholder": "filter"}
    return pn.widgets.Tabulator(
        rows,
        pagination="remote",
        page_size=page_size,
        show_index=False,
        disabled=True,
        selectable=False,
        header_filters={c: text_filter for c in TABLE_COLUMNS if c != "size"},
        # pages write "-" for an unknown size: show it the same way, not as NaN
        formatters={"size": NumberFormatter(format="0,0", nan_format="-", null_format="-", text_align="right")},
        titles={"size": "size (bytes)"},
        widths={"hash": 150, "variants": 320, "stacks": 260},
        sizing_mode="stretch_width",
        name="specs",
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
        name="problems",
    )
