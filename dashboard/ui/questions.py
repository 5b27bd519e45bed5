"""The views that answer users' questions, each a Panel Viewer bound to the one
:class:`~dashboard.ui.state.DashboardState` (like :mod:`dashboard.ui.components`):

* :class:`HostFilter` (sidebar): "only what runs on this host";
* :class:`RunsHereView`: how many selected specs run on a host, why the others do not;
* :class:`CompareView`: what changed between two tags, and tags over time;
* :class:`WhyView`: why binaries were rebuilt between two tags: root causes ranked,
  a stack x cause heatmap, the rebuilt specs of a cause and their dependency paths;
* :class:`StorageView`: what the selection costs (bytes per tag, stack, package,
  duplicates, growth) and what pruning to a keep list would free;
* :class:`FindView`: exact and nearest binaries for a spec, hash, spec.json or spack.lock;

The computing is in :mod:`dashboard.core.compat`, :mod:`dashboard.domain.diff`,
:mod:`dashboard.domain.causes`, :mod:`dashboard.domain.storage`, :mod:`dashboard.domain.match`;
nothing here computes.
"""

from __future__ import annotations

import html
import io

import pandas as pd
import panel as pn
import param
from bokeh.models import HTMLTemplateFormatter

import hvplot.pandas  # noqa: F401  (the .hvplot accessor)

from dashboard.core import compat

from dashboard.domain import query
from dashboard.ui import views
from dashboard.ui.components import Component
from dashboard.domain.causes import compare as compare_causes, snapshot
from dashboard.domain.diff import DIFF_COLUMNS, diff, package_versions, tag_order, timeline
from dashboard.domain.storage import KeepListError, keep_last_tags, prune_preview, read_keep, storage
from dashboard.core.terms import ROOT_STACK, SIZE_TEMPLATE, TABLE_COLUMNS, cell_size_text
from dashboard.domain.match import LockFile, MatchInputError, lock_coverage, match, parse_input

#: Every column a question view's table shows (Tabulator sizes each to its title too).
QUESTION_COLUMNS = sorted({*TABLE_COLUMNS, *DIFF_COLUMNS, "stack", "added", "removed", "changed", "reason", "specs",
                           "agree", "differs", "status", "size", "cause", "classes", "roots", "unknown", "old_version", "path",
                           "bytes", "bytes_change", "specs_change", "hashes", "extra_bytes", "pruned", "kept"})

_NOTE = {"background": "#f8f9fa", "padding": "6px 10px", "border-radius": "4px"}


def _table(frame: pd.DataFrame, name: str, page_size: int = 15, wrap=()) -> pn.widgets.Tabulator:
    """A read-only, paginated table; ``wrap`` columns wrap their text (long reasons)."""
    return pn.widgets.Tabulator(
        frame, pagination="local", page_size=page_size, show_index=False, disabled=True, selectable=False,
        layout="fit_data_table", sizing_mode="stretch_width", css_classes=[name],
        # KiB/MiB/GiB with the bytes on hover (the value stays the number: it sorts by bytes)
        formatters={"size": HTMLTemplateFormatter(template=SIZE_TEMPLATE), **{c: {"type": "textarea"} for c in wrap}}, widths={c: 380 for c in wrap},
        # titles never cut to "ad...": each column of the question views at least its title's width
        configuration={"columnDefaults": {"tooltip": True, "maxWidth": 420, "headerWordWrap": True},
                       "columns": views.title_widths(QUESTION_COLUMNS, least=40)},
    )


def _number(value: int, label: str, css: str) -> str:
    return f'<span style="margin-right:2em"><b class="{css}" style="font-size:22pt">{value:,}</b> {html.escape(label)}</span>'


class HostFilter(Component):
    """Sidebar box: keep only specs that run on a host (typed, pasted ``spack arch``
    output, or this machine); an unreadable host says why and filters nothing."""

    def __init__(self, **params):
        super().__init__(**params)
        self.input = pn.widgets.TextInput(
            label="Runs on host", value=self.state.host, placeholder="zen3 or linux-ubuntu22.04-zen3",
            description="Only binaries that run there: same platform and OS (when given) and a target the host runs (archspec)",
        )
        self.input.param.watch(self._typed, "value")
        self.detect = pn.widgets.Button(label="This machine", color="light", width=120, on_click=self._detect)
        self.message = views.TextPane("", css_classes=["host-message"], sizing_mode="stretch_width", margin=(0, 10))
        self._layout = pn.Column(self.input, self.detect, self.message, sizing_mode="stretch_width")
        self._show()

    def _typed(self, event):
        text = (event.new or "").strip()
        try:
            if text:
                compat.parse_host(text)
        except ValueError as exc:
            self.message.object = f'<span style="color:#b02a37">{html.escape(str(exc))}: not applied</span>'
            return
        self.state.host = text

    def _detect(self, _):
        self.input.value = str(compat.detect_host()).replace("*", "").strip("-")

    @param.depends("state.host", watch=True)
    def _show(self):
        if self.input.value.strip() != self.state.host:
            self.input.value = self.state.host
        self.message.object = f"<small>filtering: runs on <code>{html.escape(self.state.host)}</code></small>" if self.state.host else ""

    def __panel__(self):
        return self._layout


class RunsHereView(Component):
    """How many specs of the selection run on the host, and why the others do not."""

    def __init__(self, **params):
        super().__init__(**params)
        self.summary = views.TextPane("", sizing_mode="stretch_width", name="runs-here-summary")
        self.reasons = _table(self._no_reasons(), "why-not", wrap=("reason",))
        self._layout = pn.Column(
            pn.pane.Markdown("### Will it run here?\nType a host in the sidebar (**Runs on host**) or click **This machine**. "
                             "A binary runs when its platform and OS are the host's and its target is the host's "
                             "microarchitecture or one of its ancestors (archspec)."),
            self.summary, pn.pane.Markdown("#### Why the other specs of the selection do not run there"), self.reasons,
            sizing_mode="stretch_width",
        )
        self._update()

    @staticmethod
    def _no_reasons() -> pd.DataFrame:
        # typed: the table's column formatters follow the first value's dtypes
        return pd.DataFrame({"reason": pd.Series(dtype=str), "specs": pd.Series(dtype="int64")})

    @param.depends("state.result", "state.view", watch=True)
    def _update(self):
        if self.state.view != "runs-here":
            return
        s = self.state
        if not s.host:
            self.summary.object = "<i>No host given: type one in the sidebar.</i>"
            self.reasons.value = self._no_reasons()
            return
        host = compat.parse_host(s.host)
        mask = query.spec_mask(s.index, s.selection.without("host"))
        result = compat.summary(s.data.specs[mask], host)
        unknown = (f"<div>Targets archspec does not know (counted as not running): {html.escape(', '.join(result['unknown_targets']))}</div>"
                   if result["unknown_targets"] else "")
        label = f"of {result['total']:,} selected specs run on {result['host']}"
        self.summary.object = (
            f'<div style="padding:6px 0">{_number(result["runs"], label, "runs-here-count")}'
            f'{_number(result["packages"], "packages", "runs-here-packages")}</div>'
            f'<div><small>host target {html.escape(host.target)} runs binaries built for: '
            f'{html.escape(", ".join(compat.ancestors(host.target)))}</small></div>{unknown}'
        )
        self.reasons.value = pd.DataFrame({"reason": list(result["why"]), "specs": list(result["why"].values())}).astype({"reason": str, "specs": "int64"})

    def __panel__(self):
        return self._layout


class CompareView(Component):
    """Two tags (or two stacks) side by side: packages and specs added, removed and
    changed (of the selection's other filters), per stack, as a table and CSV; tags over time."""

    _switching = False  # between tags and stacks (see _switch)

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        self.by = pn.widgets.RadioButtonGroup.from_param(s.param.compare_by, options={"Two tags": "tag", "Two stacks": "stack"},
                                                         color="primary", variant="outline", css_classes=["compare-by"],
                                                         description=None, width=260)
        self.a = pn.widgets.Select.from_param(s.param.tag_a, options=self._choices(), width=260, css_classes=["tag-a"], description=None)
        self.b = pn.widgets.Select.from_param(s.param.tag_b, options=self._choices(), width=260, css_classes=["tag-b"], description=None)
        self._label()
        self.numbers = views.TextPane("", sizing_mode="stretch_width", name="diff-numbers")
        self.by_stack = _table(pd.DataFrame(), "diff-by-stack", page_size=10)
        # the three counts keep their titles down to a 520 px table (900 px window); no popups
        # (read-only): without that Panel adds an empty 10 px last column that overflows the table
        self.by_stack.param.update(layout="fit_columns", widths={"stack": "38%"}, container_popup=False)
        self.rows = _table(pd.DataFrame(), "diff-rows")
        self.download = pn.widgets.FileDownload(callback=self._csv, filename="changes.csv", label="Download CSV (all changes)",
                                                color="primary", embed=False, width=230)
        if "timeline" not in s.data.derived:  # once per data set, shared by the sessions
            s.data.derived["timeline"] = timeline(s.data.specs, s.data.spec_stacks)
        line = s.data.derived["timeline"]
        top = line.groupby("stack")["specs"].sum().nlargest(8).index
        plot_frame = line[line["stack"].isin(top)].assign(tag=lambda d: d["tag"].astype(str))
        self.timeline = pn.pane.HoloViews(
            plot_frame.hvplot.line(x="tag", y="specs", by="stack", height=340, responsive=True, title="Specs per stack and tag (8 largest stacks)",
                                   hover_cols=["packages"], legend="right").opts(xrotation=30, hooks=[views.wheel_scrolls_the_page]),
            sizing_mode="stretch_width", name="timeline",
        ) if len(plot_frame) else views.TextPane("<i>No tags</i>")
        self.versions = views.TextPane("", sizing_mode="stretch_width", name="package-versions")
        self._result = None
        # hidden while there is nothing to compare (one tag, or the same on both sides)
        # side by side where they fit, B under A in a narrow window (never cut off at its edge)
        self._pickers = pn.FlexBox(self.a, self.b, flex_wrap="wrap", sizing_mode="stretch_width")  # two lists of one value would offer nothing
        self._per_stack = pn.Column(pn.pane.Markdown("#### Per stack"), self.by_stack, min_width=300, max_width=560, sizing_mode="stretch_width")
        self._over_time = pn.Column(self.timeline, min_width=420, sizing_mode="stretch_width")
        self._changes = pn.Column(pn.Row(pn.pane.Markdown("#### Specs added, removed and changed"), self.download), self.rows,
                                  sizing_mode="stretch_width")
        self._layout = pn.Column(
            pn.pane.Markdown("### What changed between two tags (or two stacks)?\nThe specs of the selection (every filter but "
                             "the one compared). *Changed*: the same package, variants, compiler, OS and target with a new version or hash."),
            self.by, self._pickers, self.numbers,
            pn.FlexBox(self._per_stack, self._over_time, sizing_mode="stretch_width"),
            self._changes, self.versions,
            sizing_mode="stretch_width",
        )
        if not s.tag_a or not s.tag_b:
            self._defaults()  # runs _update when it sets both sides
        if not s.tag_a or not s.tag_b or s.tag_a == s.tag_b:
            self._update()  # one tag only, or the same twice: says so
        elif not self.numbers.object:
            self._update()

    def _choices(self) -> list[str]:
        """Tags in time order, or stacks by name."""
        values = self.state.index.categories[self.state.compare_by].astype(str)
        return tag_order(values) if self.state.compare_by == "tag" else sorted(map(str, values))

    def _names(self) -> tuple[str, str]:
        """The two pickers' labels for what is compared."""
        return ("Older tag (A)", "Newer tag (B)") if self.state.compare_by == "tag" else ("Stack A", "Stack B")

    def _label(self):
        self.a.name, self.b.name = self._names()

    def _defaults(self):
        """Sides A and B that are not set: the two newest snapshots (the moving
        ``develop`` aside), or the two largest named stacks."""
        s, choices = self.state, self._choices()
        if len(choices) < 2:
            return
        if s.compare_by == "tag":
            pick = choices[:-1] if len(choices) > 2 and choices[-1] == "develop" else choices
            pick = pick[-2:]
        else:
            sizes = s.data.spec_stacks["stack"].value_counts()
            pick = [str(st) for st in sizes.index if str(st) != ROOT_STACK][:2] or choices[:2]
            pick = pick if len(pick) == 2 else choices[:2]
        s.param.update(tag_a=s.tag_a or pick[0], tag_b=s.tag_b or pick[1])

    @param.depends("state.compare_by", watch=True)
    def _switch(self):
        """Tags <-> stacks: new choices and labels, both sides back to the defaults."""
        choices = self._choices()
        # one answer for the switch: the pickers' new options reset their values one by one
        # first, and each half-switched pair would redraw the tables (Panel's Tabulator can
        # meet a second change of columns half rebuilt in the browser)
        self._switching = True
        try:
            for widget, name in zip((self.a, self.b), self._names()):  # one change a widget: one redraw in the browser, not two
                widget.param.update(options=choices, name=name)
            with param.parameterized.batch_call_watchers(self.state):
                self.state.param.update(tag_a="", tag_b="")
                self._defaults()
        finally:
            self._switching = False
        self._update()

    def _csv(self):
        return io.StringIO(self._result.rows.to_csv(index=False) if self._result is not None else "")

    @param.depends("state.result", "state.tag_a", "state.tag_b", "state.view", watch=True)
    def _update(self):
        """Diff the two sides (of the selection's other filters) into the numbers and tables."""
        s = self.state
        if s.view != "compare" or self._switching:
            return
        what = "tag" if s.compare_by == "tag" else "stack"
        choices = self._choices()
        one = len(choices) < 2
        self._over_time.visible = self._pickers.visible = not one
        self._per_stack.visible = self._changes.visible = not one and s.tag_a != s.tag_b
        if one:
            self.numbers.object = (f'<div class="compare-note"><b>Only one {what} is loaded</b> '
                                   f'({html.escape(", ".join(choices) or "none")}): there is nothing to compare it with. '
                                   f'Load a tree or mirror list holding two or more {what}s.</div>')
            return
        if not s.tag_a or not s.tag_b:
            return
        if s.tag_a == s.tag_b:
            self.numbers.object = (f'<div class="compare-note"><b>A and B are the same {what}</b> ({html.escape(s.tag_a)}): '
                                   f'pick two different ones.</div>')
            self.by_stack.value = self.rows.value = pd.DataFrame()
            self._result = None
            return
        dim = s.compare_by  # "tag" or "stack": the selection's other filters, then one value each side
        base = query.spec_mask(s.index, s.selection.without(dim))
        side_a, side_b = (s.data.specs[base & query.spec_mask(s.index, query.Selection(**{dim: (name,)}))] for name in (s.tag_a, s.tag_b))
        specs = s.data.specs[base]
        self._result = result = diff(side_a, side_b)
        self.numbers.object = "".join(
            _number(n, kind, "diff-" + kind.replace(" ", "-")) for kind, n in result.counts.items()
        )
        self.by_stack.value = result.by_stack
        self.rows.value = result.rows
        if s.package.strip() and (specs["package"].astype(str) == s.package.strip()).any():
            versions = package_versions(specs, s.package.strip())
            text = "; ".join(f"{t}: {', '.join(g['version'])}" for t, g in versions.groupby("tag", observed=True))
            self.versions.object = f"<b>{html.escape(s.package.strip())}</b> versions per tag: {html.escape(text)}"
        else:
            self.versions.object = "<small>Type a full package name in the sidebar search to see its versions per tag.</small>"

    def __panel__(self):
        return self._layout


class WhyView(Component):
    """Why binaries were rebuilt between two tags: the root causes ranked by the specs
    (and bytes) they rebuilt, a stack x cause heatmap, and for the cause picked in the
    table its rebuilt specs with the dependency path down to it.  Computed over every
    binary of both tags (a cause may lie outside the selection's filters), once per
    pair of tags and shared by the sessions (``data.derived``)."""

    #: Rebuilt specs listed for one cause, each with its path (the rest are counted).
    MAX_SPECS = 500
    #: Causes on the heatmap (most specs first).
    HEATMAP_CAUSES = 12

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        tags = tag_order(s.index.categories["tag"].astype(str))
        self.old = pn.widgets.Select.from_param(s.param.why_old, options=tags, width=220, css_classes=["why-old"], description=None)
        self.new = pn.widgets.Select.from_param(s.param.why_new, options=tags, width=220, css_classes=["why-new"], description=None)
        self.numbers = views.TextPane("", sizing_mode="stretch_width", name="why-numbers")
        self.causes = _table(pd.DataFrame(), "why-causes", page_size=10, wrap=("cause",))
        self.causes.param.update(selectable=1, widths={"cause": 280})
        self.causes.on_click(self._picked)
        self.heatmap = pn.pane.HoloViews(None, sizing_mode="stretch_width", css_classes=["why-heatmap"], min_height=200)
        self.picked = views.TextPane("", sizing_mode="stretch_width")
        self.specs = _table(pd.DataFrame(), "why-specs", wrap=("path",))
        self._pickers = pn.FlexBox(self.old, self.new, flex_wrap="wrap", sizing_mode="stretch_width")  # B under A when narrow
        # a wide heatmap (many stacks) scrolls sideways in its own box, as the overview's do, not the page
        wide = pn.Column(self.heatmap, sizing_mode="stretch_width", margin=0, styles={"overflow-x": "auto", "min-width": "0", "max-width": "100%"})
        self._body = pn.Column(pn.pane.Markdown("#### Root causes, most rebuilt first (click one to list its specs)"), self.causes,
                               wide, self.picked, self.specs, sizing_mode="stretch_width")
        self._layout = pn.Column(
            pn.pane.Markdown("### Why were binaries rebuilt between two tags?\nSpecs are paired across the tags by package, "
                             "version, variants, compiler, OS, target and their place in the dependency graph. A changed spec "
                             "is classified by its own changed fields; where the cache records dependencies (mirrors, registries) "
                             "each is traced to the *root causes* below it. Every binary of both tags counts: the selection's "
                             "filters do not apply here."),
            self._pickers, self.numbers, self._body, sizing_mode="stretch_width",
        )
        if (not s.why_old or not s.why_new) and len(tags) >= 2:
            pick = tags[:-1] if len(tags) > 2 and tags[-1] == "develop" else tags
            s.param.update(why_old=s.why_old or pick[-2], why_new=s.why_new or pick[-1])
        self._update()

    #: Pairs of tags whose causes stay computed, shared by the sessions (each can hold
    #: hundreds of MB at a million binaries a tag): the least recently used goes first.
    KEPT_PAIRS = 2

    def _result(self):
        """The causes between the two tags (computed once per pair, shared)."""
        s = self.state
        kept = s.data.derived.setdefault("causes", {})
        key = (s.why_old, s.why_new)
        if key not in kept:
            kept[key] = compare_causes(snapshot(s.data, s.why_old), snapshot(s.data, s.why_new))
            while len(kept) > self.KEPT_PAIRS:
                kept.pop(next(iter(kept)))
        kept[key] = kept.pop(key)  # most recently used last
        return kept[key]

    def _picked(self, event):
        ranked = self._result().ranked
        if 0 <= event.row < len(ranked):
            self.state.why_cause = str(ranked["cause"].iloc[event.row])

    @param.depends("state.why_old", "state.why_new", "state.view", watch=True)
    def _update(self):
        s = self.state
        if s.view != "why":
            return
        tags = self.old.options
        one = len(tags) < 2
        self._pickers.visible = not one
        self._body.visible = not one and s.why_old != s.why_new
        if one:
            self.numbers.object = (f'<div class="why-note"><b>Only one tag is loaded</b> ({html.escape(", ".join(tags) or "none")}): '
                                   "there is nothing to compare it with. Load two snapshots (a tree or mirror list with two tags), "
                                   "or compare two sources with <code>spack-cache-dashboard why OLD NEW</code>.</div>")
            return
        if s.why_old == s.why_new:
            self.numbers.object = f'<div class="why-note"><b>Both sides are the same tag</b> ({html.escape(s.why_old)}): pick two different ones.</div>'
            return
        result = self._result()
        c = result.counts
        note = f'<div class="why-method"><small>{html.escape(result.note)}</small></div>' if result.note else ""
        self.numbers.object = (_number(c["changed"], "binaries rebuilt", "why-changed") + _number(c["added"], "added", "why-added")
                               + _number(c["removed"], "removed", "why-removed") + _number(c["unchanged"], "unchanged", "why-unchanged") + note)
        ranked = result.ranked
        if not len(ranked):  # nothing rebuilt: say so, no empty tables
            self.numbers.object += (f'<div class="why-note"><b>No binary was rebuilt</b> between {html.escape(s.why_old)} and '
                                    f'{html.escape(s.why_new)}: every binary there is unchanged, added or removed.</div>')
        self._body.visible = bool(len(ranked))
        self.causes.value = pd.DataFrame({
            "cause": ranked["cause"], "classes": ranked["classes"], "specs": ranked["specs"],
            # bytes of the specs of known size (none known: -), and how many are of unknown size
            "size": pd.array([b if u < n else pd.NA for b, u, n in zip(ranked["bytes"], ranked["unknown"], ranked["specs"])], dtype="Int64"),
            "unknown": ranked["unknown"], "stacks": ranked["stack_names"],
        }) if len(ranked) else pd.DataFrame({"cause": pd.Series(dtype=str)})
        self.causes.selection = []
        top = ranked["cause"].head(self.HEATMAP_CAUSES).tolist()
        cells = result.by_stack[result.by_stack["cause"].isin(top)]
        short = {c: c if len(c) <= 40 else c[:39] + "…" for c in top}  # axis labels; the table has them whole
        # causes across (rotated labels), stacks down: the width grows with the causes shown, never with
        # the length of their names or the number of stacks, so it fits a 900 px window
        self.heatmap.object = views.heatmap(
            pd.DataFrame({"stack": cells["stack"], "cause": cells["cause"].map(short), "count": cells["specs"]}), x="cause", y="stack",
            title="Specs rebuilt per stack and root cause", x_order=[short[c] for c in top]) if len(cells) else None
        self.heatmap.visible = bool(len(cells))
        self._show_cause()

    @param.depends("state.why_cause", watch=True)
    def _show_cause(self):
        s = self.state
        if s.view != "why" or s.why_old == s.why_new or len(self.old.options) < 2:
            return
        result = self._result()
        cause = s.why_cause
        if not cause or cause not in set(result.ranked["cause"]):
            self.picked.object = '<small class="why-picked">Click a cause to list the specs it rebuilt.</small>' if len(result.ranked) else ""
            self.specs.value = pd.DataFrame()
            self.specs.visible = False  # no empty table before a cause is picked
            return
        self.specs.visible = True
        rebuilt = set(result.attributed.loc[result.attributed["cause"] == cause, "hash"])
        rows = result.changed[result.changed["hash"].isin(rebuilt)].sort_values(["package", "version"], kind="stable")
        shown = rows.head(self.MAX_SPECS)
        hash_paths = [result.path(h, cause) for h in shown["hash"]]
        nodes = result.new.nodes  # name@version of the few records on these paths only (a tag may hold millions)
        on_paths = nodes[nodes["hash"].isin({h for p in hash_paths for h in p}).to_numpy()]
        names = dict(zip(on_paths["hash"], on_paths["package"].astype(str) + "@" + on_paths["version"].astype(str)))
        paths = [" → ".join(names.get(h, h) for h in p) for p in hash_paths]
        more = f" (the first {len(shown):,} listed)" if len(rows) > len(shown) else ""
        self.picked.object = f'<div class="why-picked"><b>{html.escape(cause)}</b> rebuilt {len(rows):,} specs{more}:</div>'
        self.specs.value = pd.DataFrame({
            "package": shown["package"].astype(str), "version": shown["version"].astype(str), "old_version": shown["old_version"].astype(str),
            "classes": shown["classes"].astype(str), "path": paths, "size": shown["size"], "stacks": shown["stacks"].astype(str),
            "target": shown["target"].astype(str), "hash": shown["hash"].astype(str),
        })

    def __panel__(self):
        return self._layout


class StorageView(Component):
    """What the selection's binaries cost: bytes per tag (with the change from the tag
    before), per stack mirror and per package, the builds held under several hashes in
    one tag; and a prune preview: what ``spack buildcache prune --keeplist`` would remove
    keeping the newest N tags, or a pasted keep list or ``spack.lock`` (nothing deleted)."""

    #: Rows listed of the binaries a preview would prune (the rest are counted).
    MAX_PRUNED = 500

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        bytes_columns = {c: HTMLTemplateFormatter(template=SIZE_TEMPLATE) for c in ("bytes", "bytes_change", "extra_bytes")}
        self.numbers = views.TextPane("", sizing_mode="stretch_width")
        self.by_tag, self.by_stack, self.by_package, self.duplicates = (
            _table(pd.DataFrame(), name, page_size=10) for name in ("storage-tags", "storage-stacks", "storage-packages", "storage-duplicates"))
        for table in (self.by_tag, self.by_stack, self.by_package, self.duplicates):
            table.formatters = {**table.formatters, **bytes_columns}
        self.keep_tags = pn.widgets.IntInput.from_param(s.param.keep_tags, name="Keep the newest N tags (0: no preview)", width=260,
                                                        css_classes=["keep-tags"], description=None)
        self.keep_list = pn.widgets.TextAreaInput(name="... or paste a keep list (one hash a line, as Spack reads it) or a spack.lock",
                                                  height=90, sizing_mode="stretch_width", css_classes=["keep-list"])
        self.preview = pn.widgets.Button(label="Preview pruning", color="primary", width=160,
                                         on_click=lambda e: self._prune(text=self.keep_list.value))
        self.plan = views.TextPane("", sizing_mode="stretch_width")
        self.by_mirror = _table(pd.DataFrame(), "prune-mirrors", page_size=10)
        self.pruned = _table(pd.DataFrame(), "prune-rows", page_size=10)
        self.by_mirror.formatters = {**self.by_mirror.formatters, **bytes_columns}
        self._layout = pn.Column(
            pn.pane.Markdown("### What does the selection cost?\nBytes of the selection's binaries where the cache gives sizes "
                             "(pages' *size*; mirrors and registries with `--sizes`), with how many are of unknown size. A binary "
                             "counts once per tag; each stack's mirror holds its own copy (*root* holds them all).", stylesheets=[views.CODE_CSS]),
            self.numbers,
            pn.FlexBox(pn.Column(pn.pane.Markdown("#### Per tag, oldest first"), self.by_tag, min_width=360, sizing_mode="stretch_width"),
                       pn.Column(pn.pane.Markdown("#### Per stack mirror"), self.by_stack, min_width=360, sizing_mode="stretch_width"),
                       sizing_mode="stretch_width"),
            pn.FlexBox(pn.Column(pn.pane.Markdown("#### Largest packages"), self.by_package, min_width=360, sizing_mode="stretch_width"),
                       pn.Column(pn.pane.Markdown("#### Duplicates: one build under several hashes in one tag"), self.duplicates,
                                 min_width=420, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            pn.pane.Markdown("### What would pruning free?\nAs `spack buildcache prune --keeplist FILE` does: every binary of "
                             "every mirror whose hash is not kept is removed (its dependencies too, unless kept). Nothing is "
                             "deleted here.", stylesheets=[views.CODE_CSS]),
            self.keep_tags, self.keep_list, self.preview, self.plan, self.by_mirror, self.pruned, sizing_mode="stretch_width",
        )
        self._update()
        if s.keep_tags:
            self._prune()

    @param.depends("state.result", "state.view", watch=True)
    def _update(self):
        s = self.state
        if s.view != "storage":
            return
        result = storage(s.data, query.spec_mask(s.index, s.selection))
        t = result.total
        size = (f"{cell_size_text(t['bytes'], t['specs'] - t['unknown'], t['specs'])}" if t["specs"] else "nothing")
        self.numbers.object = (_number(t["specs"], "binaries selected", "storage-specs")
                               + f'<span class="storage-bytes" style="font-size:16pt">size: {html.escape(size)}</span>')
        self.by_tag.value = result.by_tag
        self.by_stack.value = result.by_stack
        self.by_package.value = result.by_package.head(200)
        self.duplicates.value = result.duplicates.head(500)

    @param.depends("state.keep_tags", watch=True)
    def _keep_tags(self):
        if self.state.keep_tags:
            self._prune()

    def _prune(self, text: str | None = None):
        """Preview pruning to the newest ``state.keep_tags`` tags, or to the keep list ``text``."""
        s = self.state
        try:
            if text is not None and text.strip():
                keep, what = read_keep(text, "the pasted text")
            elif s.keep_tags:
                keep, what = keep_last_tags(s.data.specs, s.keep_tags)
            else:
                self.plan.object = '<small class="prune-note">Give a number of tags to keep, or paste a keep list.</small>'
                return
        except (KeepListError, ValueError) as exc:
            self.plan.object = f'<span class="prune-error" style="color:#b02a37">{html.escape(str(exc))}</span>'
            self.by_mirror.value = self.pruned.value = pd.DataFrame()
            return
        plan = prune_preview(s.data, keep)
        mirrors = int((plan.by_mirror["pruned"] > 0).sum())
        size = cell_size_text(plan.bytes, len(plan.pruned) - plan.unknown, len(plan.pruned)) if len(plan.pruned) else "nothing"
        unknown = f"; {len(plan.keep_unknown):,} kept hashes are in no mirror here" if plan.keep_unknown else ""
        size = "bytes of unknown size (the cache gives no sizes)" if size == "unknown" else size
        self.plan.object = (f'<div class="prune-plan">Keeping {html.escape(what)}: would prune '
                            f'<b class="prune-count">{len(plan.pruned):,}</b> binaries in {mirrors:,} mirror{"s" if mirrors != 1 else ""}, '
                            f'freeing <b>{html.escape(size)}</b>; {plan.kept:,} kept{html.escape(unknown)}.</div>')
        self.by_mirror.value = plan.by_mirror
        self.pruned.value = plan.pruned.head(self.MAX_PRUNED)

    def __panel__(self):
        return self._layout


def _highlight(differs: str) -> str:
    """``"target x (wanted y); variant ~a (wanted +a)"`` as HTML, one difference a
    line, the field that differs in red (text from the data is escaped)."""
    lines = []
    for item in differs.split("; "):
        field, _, rest = item.partition(" ")
        lines.append(f'<b style="color:#b02a37">{html.escape(field)}</b> {html.escape(rest)}')
    return '<div style="white-space:normal;line-height:1.4">' + "<br>".join(lines) + "</div>"


class FindView(Component):
    """Paste a spec, a /hash, a spec.json or a spack.lock: exact hits, else the
    nearest binaries with what differs; for a lock file, how much of it is cached."""

    def __init__(self, **params):
        super().__init__(**params)
        self.input = pn.widgets.TextAreaInput(
            value=self.state.find, placeholder="hdf5@1.14 +mpi target=zen3 os=ubuntu22.04 %gcc@11   |   /abc123   |   a spec.json or spack.lock",
            height=90, sizing_mode="stretch_width", label="Spec, /hash, spec.json or spack.lock", css_classes=["find-input"],
        )
        self.go = pn.widgets.Button(label="Find", color="primary", width=100, on_click=lambda e: setattr(self.state, "find", self.input.value))
        self.message = views.TextPane("", sizing_mode="stretch_width", name="find-message")
        self.exact = _table(pd.DataFrame(), "find-exact", page_size=10)
        self.nearest = _table(pd.DataFrame(columns=["agree", "differs"]), "find-nearest", page_size=10)
        self.nearest.formatters = {"differs": {"type": "html"}}
        self.nearest.widths = {"differs": 380}
        # shown once there is something to show: no empty tables and page buttons before a search
        self._exact_part = pn.Column(pn.pane.Markdown("#### Exact hits"), self.exact, sizing_mode="stretch_width", visible=False)
        self._nearest_part = pn.Column(pn.pane.Markdown("#### Nearest binaries (fields that agree, then what differs)"), self.nearest,
                                       sizing_mode="stretch_width", visible=False)
        self._layout = pn.Column(
            pn.pane.Markdown("### Why is there no binary for my spec?\nThe selection's filters apply (clear them to search everything)."),
            self.input, self.go, self.message, self._exact_part, self._nearest_part,
            sizing_mode="stretch_width",
        )
        self._update()

    @param.depends("state.find", "state.result", "state.view", watch=True)
    def _update(self):
        s = self.state
        if s.view != "find":
            return
        if self.input.value != s.find:
            self.input.value = s.find
        if not s.find.strip():
            self.message.object = "<i>Paste something to look for.</i>"
            self.exact.value = self.nearest.value = pd.DataFrame()
            self._show_parts(exact=False, nearest=False)
            return
        try:
            parsed = parse_input(s.find)
        except MatchInputError as exc:
            self.message.object = f'<span class="find-error" style="color:#b02a37">{html.escape(str(exc))}</span>'
            self.exact.value = self.nearest.value = pd.DataFrame()
            self._show_parts(exact=False, nearest=False)
            return
        specs = s.data.specs[query.spec_mask(s.index, s.selection)]
        cols = ["hash", "package", "version", "compiler", "os", "target", "variants", "tag", "stacks", "size"]
        if isinstance(parsed, LockFile):
            cov = lock_coverage(specs, parsed, s.data.nodes)
            unknown = f" ({cov['unknown_sizes']} sizes unknown)" if cov["unknown_sizes"] else ""
            self.message.object = (_number(cov["cached"], f"of {cov['total']} concrete specs are in the cache", "lock-cached")
                                   + _number(cov["missing"], "missing", "lock-missing")
                                   + _number(cov["external"], "externals (never binaries)", "lock-external")
                                   + (_number(cov["not_pushed"], "in the index, not pushed", "lock-not-pushed") if cov["not_pushed"] else "")
                                   + f"<span>download {cov['bytes']:,} bytes{unknown}</span>")
            self.exact.value = cov["rows"]
            self.nearest.value = pd.DataFrame()
            self._show_parts(exact=True, nearest=False)  # the lock's specs (a lock file has no nearest binaries)
            return
        result = match(specs, parsed, s.data.dependencies, nodes=s.data.nodes)
        others = result["not_binaries"]
        note = ("<div class='find-not-binaries' style='margin-top:6px'>In the index but no binary: " + html.escape(", ".join(
            f"{r.package}@{r.version} /{r.hash[:7]} ({r.status})" for r in others.itertuples())) + "</div>") if len(others) else ""
        self.message.object = (_number(len(result["exact"]), f"exact hits for {result['query']}", "find-exact-count")
                               + f"<span>{result['candidates']:,} binaries of that package in the selection</span>" + note)
        self.exact.value = result["exact"][cols]
        near = result["nearest"]
        self.nearest.value = near.assign(
            agree=near["agree"].astype(str) + "/" + near["of"].astype(str), differs=near["differs"].map(_highlight),
        )[["agree", "differs", *cols]]
        self._show_parts(exact=len(result["exact"]) > 0, nearest=True)  # "0 exact hits" says it: no empty table

    def _show_parts(self, exact: bool, nearest: bool) -> None:
        """Show the result tables that hold something (each set once an answer)."""
        self._exact_part.visible, self._nearest_part.visible = exact, nearest

    def __panel__(self):
        return self._layout
