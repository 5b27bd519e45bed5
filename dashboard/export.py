"""Standalone HTML export that stays interactive offline.

The file holds Bokeh's JS/CSS inline and the selected spec rows as integer
category codes (binary arrays) plus the category labels.  A small client-side
callback (``_UPDATE_JS``) re-implements :func:`dashboard.query.compute` for the
browser: every selector change recomputes the headline numbers, both heatmaps,
the spec table and each selector's option counts (under the other selections,
as in the served app); the table sorts by column header, filters by free text and
downloads the rows it shows as CSV.  No server, no network.
"""

from __future__ import annotations

import html
import os
from dataclasses import replace
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
    LogColorMapper,
    MultiChoice,
    NumberFormatter,
    TableColumn,
    TextInput,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure
from bokeh.resources import Resources

from .load import CacheData
from .query import DIMENSIONS, LABELS, ROOT_STACK, STACKS_LABEL, TABLE_COLUMNS, Selection
from .spack import version_key

_UPDATE_JS = r"""
const R = raw.data, S = stk.data, n = R.tag.length;
function lut(widget, cats) {
  if (!widget.value.length) return null;
  const want = new Set(widget.value), t = new Uint8Array(cats.length);
  cats.forEach((c, i) => { if (want.has(c)) t[i] = 1; });
  return t;
}
const L = {tag: lut(w.tag, cats.tag), os: lut(w.os, cats.os), target: lut(w.target, cats.target),
           version: lut(w.version, cats.version)};
const needle = w.package.value.trim().toLowerCase();
const pkgOk = needle ? cats.package.map((p) => p.toLowerCase().includes(needle)) : null;
const stackSel = lut(w.stack, cats.stack);
let inStack = null;
if (stackSel) {
  inStack = new Uint8Array(n);
  for (let k = 0; k < S.spec.length; k++) if (stackSel[S.stack[k]]) inStack[S.spec[k]] = 1;
}
// one pass: the mask, and for every selector the counts under all *other* filters
// (a row failing exactly one filter still counts for that filter's own options)
const D = ["tag", "os", "target", "version"], cnt = {};
for (const d of [...D, "stack"]) cnt[d] = new Int32Array(cats[d].length);
const mask = new Uint8Array(n), otherOk = new Uint8Array(n);
let nspec = 0;
for (let i = 0; i < n; i++) {
  let nf = 0, which = -1;
  for (let j = 0; j < 4; j++) { const t = L[D[j]]; if (t && !t[R[D[j]][i]]) { nf++; which = j; } }
  if (pkgOk && !pkgOk[R.package[i]]) { nf++; which = 4; }
  if (inStack && !inStack[i]) { nf++; which = 5; }
  if (nf === 0) { mask[i] = 1; nspec++; for (const d of D) cnt[d][R[d][i]]++; }
  else if (nf === 1 && which < 4) cnt[D[which]][R[D[which]][i]]++;
  otherOk[i] = nf === 0 || (nf === 1 && which === 5);
}
for (let k = 0; k < S.spec.length; k++) if (otherOk[S.spec[k]]) cnt.stack[S.stack[k]]++;
const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
// option labels last, after the numbers, heatmaps and table have been drawn
setTimeout(() => {
  for (const d of [...D, "stack"]) {
    const chosen = new Set(w[d].value), opts = [];
    cats[d].forEach((v, c) => { if (cnt[d][c] > 0 || chosen.has(v)) opts.push([v, esc(`${v} (${cnt[d][c].toLocaleString("en-US")})`)]); });
    const old = w[d].options;  // re-rendering a long option list is the slow part: skip if unchanged
    if (old.length !== opts.length || opts.some((o, k) => o[1] !== old[k][1])) w[d].options = opts;
  }
}, 0);
// headline numbers
const pk = new Set(), tg = new Set(), st = new Set();
for (let i = 0; i < n; i++) if (mask[i]) { pk.add(R.package[i]); tg.add(R.tag[i]); }
// package x stack counts; the stack number counts named stacks (never root) holding
// a selected spec, among the chosen stacks when any named one is chosen (as query.headline)
const named = w.stack.value.filter((v) => v !== rootStack);
const counted = cats.stack.map((v) => v !== rootStack && (!named.length || named.includes(v)));
const nS = cats.stack.length, ps = new Map(), perPkg = new Map();
for (let k = 0; k < S.spec.length; k++) {
  const i = S.spec[k];
  if (!mask[i]) continue;
  if (counted[S.stack[k]]) st.add(S.stack[k]);
  if (stackSel && !stackSel[S.stack[k]]) continue;
  const key = R.package[i] * nS + S.stack[k];
  ps.set(key, (ps.get(key) || 0) + 1);
}
for (let i = 0; i < n; i++) if (mask[i]) perPkg.set(R.package[i], (perPkg.get(R.package[i]) || 0) + 1);
const num = (v, label) => `<span style="margin-right:2em;font-size:13pt"><b style="font-size:22pt">${v.toLocaleString()}</b> ${label}</span>`;
nums.text = num(pk.size, "Packages") + num(nspec, "Specs") + num(st.size, stacksLabel) + num(tg.size, "Tags")
  + (nspec ? "" : '<div class="empty-note" style="background:#fff4e5;padding:6px 10px"><b>No specs match this selection.</b> Remove a filter.</div>');
nums.tags = [pk.size, nspec, st.size, tg.size];
const top = [...perPkg.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, parseInt(topnBox.value) || 30).map((e) => e[0]);
const topSet = new Set(top);
const hx = [], hy = [], hc = [];
for (const [key, c] of ps) {
  const p = Math.floor(key / nS), s = key % nS;
  if (topSet.has(p)) { hx.push(cats.stack[s]); hy.push(cats.package[p]); hc.push(c); }
}
const stacksShown = [...new Set(hx)].sort((a, b) => (a === "root") - (b === "root") || (a < b ? -1 : a > b ? 1 : 0));
hm1.data = {x: hx, y: hy, count: hc};
f1.x_range.factors = stacksShown.length ? stacksShown : ["(none)"];
f1.y_range.factors = top.length ? top.map((p) => cats.package[p]).reverse() : ["(none)"];
m1.high = Math.max(10, ...hc);
// OS x target
const nT = cats.target.length, ot = new Map();
for (let i = 0; i < n; i++) if (mask[i]) { const key = R.os[i] * nT + R.target[i]; ot.set(key, (ot.get(key) || 0) + 1); }
const ox = [], oy = [], oc = [];
for (const [key, c] of ot) { ox.push(cats.target[key % nT]); oy.push(cats.os[Math.floor(key / nT)]); oc.push(c); }
hm2.data = {x: ox, y: oy, count: oc};
f2.x_range.factors = ox.length ? [...new Set(ox)].sort() : ["(none)"];
f2.y_range.factors = oy.length ? [...new Set(oy)].sort().reverse() : ["(none)"];
m2.high = Math.max(10, ...oc);
// table: selection, then the free-text table filter
const q = tfilter.value.trim().toLowerCase();
const cols = {};
for (const c of tcols) cols[c] = [];
for (let i = 0; i < n; i++) {
  if (!mask[i]) continue;
  const rec = {};
  for (const c of tcols) {
    const v = c === "hash" ? R.hash[i] : c === "size" ? (R.size[i] < 0 ? null : R.size[i]) : cats[c][R[c][i]];
    rec[c] = v;
  }
  if (q && !tcols.some((c) => rec[c] !== null && String(rec[c]).toLowerCase().includes(q))) continue;
  for (const c of tcols) cols[c].push(rec[c]);
}
table.data = cols;
table.selected.indices = [];
"""

_CSV_JS = r"""
const d = table.data, cols = tcols;
const quote = (v) => { if (v === null || v === undefined) return ""; const s = String(v);
  return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
const lines = [cols.join(",")];
for (let i = 0; i < d.hash.length; i++) lines.push(cols.map((c) => quote(d[c][i])).join(","));
const blob = new Blob([lines.join("\n") + "\n"], {type: "text/csv"});
const a = document.createElement("a");
a.href = URL.createObjectURL(blob); a.download = "specs.csv";
document.body.appendChild(a); a.click(); a.remove();
"""


class _BokehInline(Resources):
    """Bokeh's own JS and CSS, inline, and nothing else.

    Bokeh adds the ``__javascript__``/``__css__`` files of every model class
    imported in the process; in a Panel server those are Panel's extension
    files as CDN links (a Tabulator stylesheet, MathJax), which an air-gapped
    machine cannot load and this file does not use.
    """

    def __init__(self, components=None):
        super().__init__(mode="inline", components=components)

    def clone(self, *, components=None) -> "_BokehInline":  # Bokeh's clone would drop this class
        return _BokehInline(components=components if components is not None else list(self.components))

    def _collect_external_resources(self, resource_attr: str) -> list[str]:
        return []


def _codes(series, key=str, reverse: bool = False) -> tuple[np.ndarray, list[str]]:
    """``int32`` codes and their labels, labels sorted by ``key`` (the selectors
    list them in this order; versions newest first)."""
    cat = series.astype("category").cat.remove_unused_categories()
    cat = cat.cat.reorder_categories(sorted(cat.cat.categories, key=key, reverse=reverse))
    return cat.cat.codes.to_numpy().astype(np.int32), [str(c) for c in cat.cat.categories]


def _heatmap(title: str, xlabel: str, ylabel: str, height: int):
    source = ColumnDataSource(data={"x": [], "y": [], "count": []})
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
    sub = specs[keep]
    old_ids = np.flatnonzero(keep)
    new_id = np.full(len(specs), -1, dtype=np.int64)
    new_id[old_ids] = np.arange(len(old_ids))
    ss = data.spec_stacks
    ss_new = new_id[ss["spec"].to_numpy()]
    in_sub = ss_new >= 0
    raw, cats = {}, {}
    for col in ("tag", "package", "version", "compiler", "os", "target", "variants", "stacks"):
        raw[col], cats[col] = _codes(sub[col], version_key, True) if col == "version" else _codes(sub[col])
    raw["hash"] = sub["hash"].astype(str).tolist()
    raw["size"] = sub["size"].fillna(-1).to_numpy(dtype=np.float64)
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
    f1, hm1, m1 = _heatmap("Specs per package and stack", "stack", "package", 650)
    f2, hm2, m2 = _heatmap("Specs per OS and target", "target", "os", 360)
    table_src = ColumnDataSource(data={c: [] for c in TABLE_COLUMNS}, name="table")
    table = DataTable(
        source=table_src,
        columns=[
            TableColumn(field=c, title=c)
            if c != "size"
            else TableColumn(field=c, title="size (bytes)", formatter=NumberFormatter(format="0,0", nan_format="-", null_format="-", text_align="right"))
            for c in TABLE_COLUMNS
        ],
        sortable=True,
        height=520,
        sizing_mode="stretch_width",
        index_position=None,
        name="spec_table",
    )
    tfilter = TextInput(title="Filter table rows (any column contains)", value="", name="table_filter", sizing_mode="stretch_width")
    csv = Button(label="Download CSV (rows in the table)", button_type="primary", name="csv")
    update = CustomJS(
        args=dict(
            raw=raw_src, stk=stk_src, cats=cats, w=widgets, nums=nums, hm1=hm1, f1=f1, m1=m1, hm2=hm2, f2=f2, m2=m2,
            table=table_src, tcols=TABLE_COLUMNS, tfilter=tfilter, topnBox=topn, rootStack=ROOT_STACK, stacksLabel=STACKS_LABEL,
        ),
        code=_UPDATE_JS,
    )
    for widget in widgets.values():
        widget.js_on_change("value", update)
    for box in (topn, tfilter):
        box.js_on_change("value", update)
    csv.js_on_event("button_click", CustomJS(args=dict(table=table_src, tcols=TABLE_COLUMNS), code=_CSV_JS))
    header = Div(
        text=f"<h2>Spack build cache</h2><p>Offline snapshot of <code>{len(sub):,}</code> specs "
        f"from {sub['tag'].nunique()} tag(s). Selectors, heatmaps and the table work without a server.</p>",
        sizing_mode="stretch_width",
    )
    sidebar = column(*widgets.values(), topn, width=300)
    main = column(header, nums, f1, f2, tfilter, row(csv), table, sizing_mode="stretch_width")
    layout = row(sidebar, main, sizing_mode="stretch_width")
    doc = Document()
    doc.add_root(layout)
    doc.js_on_event(DocumentReady, update)
    page = file_html(doc, resources=_BokehInline(), title="Spack build cache (offline)")
    Path(path).write_text(page, encoding="utf-8")
    return {"bytes": Path(path).stat().st_size, "specs": int(len(sub)), "packages": int(sub["package"].nunique())}
