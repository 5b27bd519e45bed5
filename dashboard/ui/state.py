"""The one state object of a dashboard session: what is selected, and the query
result for it.  Param only (no Panel widgets): the components in
:mod:`dashboard.ui.components` are bound to it, and the URL is read and written
through it.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Mapping, Sequence

import param

from dashboard.core import compat

from dashboard.domain import query
from dashboard.model import CacheData
from dashboard.core.terms import LABELS, VIEWS

#: Longest *Find a spec* text kept in the URL (a pasted spack.lock is not).
MAX_URL_FIND = 400
#: URL query key prefix of the spec table's header filters: ``filter.package=py-``.
FILTER_KEY = "filter."


def _now(callback: Callable[[], None]) -> None:
    callback()


def _same(old, new) -> bool:
    """``old`` and ``new`` values of a selection parameter are equal (lists, dicts,
    tuples, text, numbers; never raises)."""
    try:
        return bool(old == new) and type(old) is type(new)
    except Exception:  # noqa: BLE001 - values that cannot be compared are a change
        return False


class DashboardState(param.Parameterized):
    """The single source of truth of one dashboard session.

    Selector parameters hold the selected values; their ``objects`` are the
    values that exist under the other selections, labelled with spec counts.
    ``result`` (a :class:`dashboard.domain.query.Result`) is recomputed once per change.

    Args:
        data: the loaded data set (its query index is shared by every state on it).
        batch: a context manager factory wrapped around each recomputation and the
            watchers it sets off; the served app passes ``pn.io.hold`` so that one
            change reaches the browser as one message.
        later: runs a callable after the new ``result`` is shown; the selectors'
            option labels (their spec counts) are set then.  Default: at once.  The
            served app waits until the browser has drawn the answer: the browser
            re-renders a selector's whole list when its labels change.
    """

    tag = param.ListSelector(default=[], objects=[], label=LABELS["tag"])
    stack = param.ListSelector(default=[], objects=[], label=LABELS["stack"])
    os = param.ListSelector(default=[], objects=[], label=LABELS["os"])
    target = param.ListSelector(default=[], objects=[], label=LABELS["target"])
    version = param.ListSelector(default=[], objects=[], label=LABELS["version"])
    package = param.String(default="", label="Package name contains")
    top_n = param.Integer(default=30, bounds=(5, 500), label="Packages on the heatmap (top N by specs)")
    cell = param.Tuple(default=None, length=2, allow_None=True, doc="(package, stack) clicked on the heatmap")
    host = param.String(default="", label="Runs on host", doc="only specs that run on this host (spack arch output or a target); '' = all")
    columns = param.Dict(default={}, doc="the spec table's header filters, column -> text the cell contains (case ignored); part of the selection")
    result = param.Parameter(default=None, doc="dashboard.domain.query.Result for the current selection")
    # the question views (dashboard.ui.questions): not part of the selection, but of the URL
    view = param.Selector(default="overview", objects=list(VIEWS), doc="the view shown: " + ", ".join(VIEWS))
    compare_by = param.Selector(default="tag", objects=["tag", "stack"], doc="what the What changed? view compares: two tags or two stacks")
    tag_a = param.String(default="", allow_None=True, label="Older tag (A)", doc="side A of What changed? (a tag, or a stack when compare_by is 'stack')")
    tag_b = param.String(default="", allow_None=True, label="Newer tag (B)", doc="side B of What changed?")
    find = param.String(default="", doc="what the Find a spec view matches: a spec, /hash, spec.json or spack.lock")
    why_old = param.String(default="", label="Older tag", doc="the older snapshot of Why rebuilt? (a tag)")
    why_new = param.String(default="", label="Newer tag", doc="the newer snapshot of Why rebuilt? (a tag)")
    why_cause = param.String(default="", doc="the root cause whose rebuilt specs Why rebuilt? lists ('' = none picked)")
    keep_tags = param.Integer(default=0, bounds=(0, None), doc="What does it cost?: preview pruning to the newest N tags (0: no preview)")
    relabelled = param.Parameter(default=frozenset(), doc="the dimensions whose option labels changed last (a chosen value's label there must be sent again); set, and triggered, after ``result``")

    def __init__(
        self,
        data: CacheData,
        batch: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
        later: Callable[[Callable[[], None]], None] | None = None,
        **params,
    ):
        self.data = data
        #: context manager factory wrapped around each recomputation and what it sets off
        #: (the app passes ``pn.io.hold``: one message to the browser per change)
        self.batch = batch
        #: runs a callable once the new result is shown (see the class docstring)
        self.later = later or _now
        self.index = query.index_for(data)  # shared by the sessions of one server process
        self._options: dict[str, dict] = {}  # option labels last sent, per dimension
        self._relabel_due = False
        super().__init__(**params)
        self.param.watch(self._on_change, ["tag", "stack", "os", "target", "version", "package", "top_n", "cell", "host", "columns"])
        self._recompute(later=_now)

    @property
    def selection(self) -> query.Selection:
        """The current selection as a :class:`dashboard.domain.query.Selection`."""
        return query.Selection(
            **{dim: tuple(getattr(self, dim)) for dim in query.DIMENSIONS},
            package=self.package,
            cell=tuple(self.cell) if self.cell else None,
            host=self.host,
            columns=tuple((str(k), str(v)) for k, v in (self.columns or {}).items()),
        )

    def _on_change(self, *events):
        # a value set again unchanged is no change: a selector whose option labels were
        # relabelled sends its value again (see Selectors._relabel), and param passes
        # that on through the widget's link as an event (old == new); answering it
        # recomputed and redrew everything a second time, ~200 ms after most picks
        events = [e for e in events if not _same(e.old, e.new)]
        if not events:
            return
        names = {e.name for e in events}
        if self.cell is not None and "cell" not in names and names - {"top_n"}:
            with param.discard_events(self):
                self.cell = None  # a new filter invalidates the clicked cell
        with self.batch():
            self._recompute()

    def _recompute(self, later: Callable[[Callable[[], None]], None] | None = None):
        self.result = query.compute(self.index, self.selection, self.top_n)
        if not self._relabel_due:  # one pending relabelling serves any number of changes
            self._relabel_due = True
            (later or self.later)(self._relabel)

    def _relabel(self):
        """Label each selector's options with their spec counts in ``result``; only the
        dimensions whose labels changed get new ``objects`` (re-rendering a long option
        list is slow in the browser); then trigger ``relabelled``."""
        self._relabel_due = False
        changed = set()
        for dim in query.DIMENSIONS:
            opts = self.result.options[dim]
            if dim == "version":  # versions of many packages: say whose they are
                labels = [f"{v} ({n:,}) {p}" for v, n, p in zip(opts["value"], opts["specs"], opts["packages"])]
            else:
                labels = [f"{v} ({n:,})" for v, n in zip(opts["value"], opts["specs"])]
            # Choices.js renders option labels as HTML: escape text that comes from pages
            objects = {html.escape(label): v for label, v in zip(labels, opts["value"])}
            if objects != self._options.get(dim):
                self._options[dim] = objects
                self.param[dim].objects = objects
                changed.add(dim)
        with param.discard_events(self):
            self.relabelled = frozenset(changed)
        self.param.trigger("relabelled")

    def filterable_columns(self) -> list[str]:
        """The spec table's text columns: those a header filter (and ``columns``) may name."""
        return query.text_columns(self.index)

    def clear(self):
        """Reset every filter."""
        self.param.update(tag=[], stack=[], os=[], target=[], version=[], package="", cell=None, host="", columns={})

    # -- URL query state ---------------------------------------------------------
    def url_query(self) -> list[tuple[str, str]]:
        """The selection as URL query pairs, e.g. ``[("stack", "e4s"), ("os", "ubuntu22.04")]``.

        One pair per selected value (repeated keys), ``package`` for the name
        search, ``cell=<package>,<stack>`` for a clicked heatmap cell and
        ``filter.<column>=<text>`` for each header filter of the spec table; an
        unfiltered dashboard gives ``[]``.
        """
        pairs = [(dim, value) for dim in query.DIMENSIONS for value in getattr(self, dim)]
        if self.package:
            pairs.append(("package", self.package))
        if self.cell:
            pairs.append(("cell", ",".join(self.cell)))
        if self.host:
            pairs.append(("host", self.host))
        pairs += [(FILTER_KEY + column, text) for column, text in self.selection.columns if text.strip()]
        if self.view != "overview":
            pairs.append(("view", self.view))
        if self.view == "compare":
            pairs += [("by", "stack")] if self.compare_by == "stack" else []
            pairs += [(key, value) for key, value in (("a", self.tag_a), ("b", self.tag_b)) if value]
        if self.view == "why":
            pairs += [(key, value) for key, value in (("old", self.why_old), ("new", self.why_new), ("cause", self.why_cause)) if value]
        if self.view == "storage" and self.keep_tags:
            pairs.append(("keep_tags", str(self.keep_tags)))
        if self.view == "find" and self.find and len(self.find) <= MAX_URL_FIND:
            pairs.append(("q", self.find))
        return pairs

    def apply_url_query(self, args: Mapping[str, Sequence[str | bytes]]) -> list[str]:
        """Select what a URL query asks for; return one notice per value ignored.

        Args:
            args: query key -> values, as ``urllib.parse.parse_qs`` or
                ``pn.state.session_args`` give them (``bytes`` are UTF-8
                decoded).  Keys are the :data:`dashboard.domain.query.DIMENSIONS`,
                ``package``, ``cell``, ``host``, ``view`` (one of
                :data:`dashboard.core.terms.VIEWS`), ``by`` (``tag`` or ``stack``) and
                ``a``/``b`` (the tags or stacks compared), ``old``/``new``/``cause``
                (*Why rebuilt?*: the tags and the root cause picked), ``keep_tags``
                (*What does it cost?*: the prune preview) and ``q`` (the *Find a spec* text) and ``filter.<column>`` (a
                header filter of the spec table); a dimension's values may
                also be comma-separated.  Other keys are left alone (Panel and Bokeh
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
        if "host" in args:
            host = (text(args["host"]) or [""])[-1].strip()
            try:
                if host:
                    compat.parse_host(host)
                update["host"] = host
            except ValueError as exc:
                notices.append(f"Host '{host}' from the URL: {exc}; ignored.")
        if "view" in args:
            view = (text(args["view"]) or [""])[-1]
            if view in VIEWS:
                update["view"] = view
            else:
                notices.append(f"View '{view}' from the URL is not one of {', '.join(VIEWS)}: ignored.")
        by = (text(args["by"]) or ["tag"])[-1] if "by" in args else "tag"
        if by not in ("tag", "stack"):
            notices.append(f"Compare by '{by}' from the URL is neither tag nor stack: ignored.")
            by = "tag"
        if "by" in args:
            update["compare_by"] = by
        # the sides of What changed? (tags or stacks) and of Why rebuilt? (tags)
        for dim, keys in ((by, (("a", "tag_a"), ("b", "tag_b"))), ("tag", (("old", "why_old"), ("new", "why_new")))):
            known = set(self.index.categories[dim].astype(str))
            for key, name in keys:
                if key in args:
                    value = (text(args[key]) or [""])[-1]
                    if value in known:
                        update[name] = value
                    else:
                        notices.append(f"{dim.capitalize()} '{value}' from the URL is not in this build cache: ignored.")
        if "keep_tags" in args:
            value = (text(args["keep_tags"]) or [""])[-1]
            if value.isdigit() and int(value) <= 10**6:
                update["keep_tags"] = int(value)
            else:
                notices.append(f"Keep the last '{value}' tags from the URL is not a number of tags: ignored.")
        if "cause" in args:
            update["why_cause"] = (text(args["cause"]) or [""])[-1][:MAX_URL_FIND]
        if "q" in args:
            update["find"] = (text(args["q"]) or [""])[-1][:MAX_URL_FIND]
        columns = {}
        for key in args:
            if not str(key).startswith(FILTER_KEY):
                continue
            column, value = str(key)[len(FILTER_KEY):], (text(args[key]) or [""])[-1]
            if column in self.filterable_columns():
                columns[column] = value[:MAX_URL_FIND]
            else:
                notices.append(f"Table filter '{column}' from the URL is not a text column of the spec table "
                               f"({', '.join(self.filterable_columns())}): ignored.")
        if columns:
            update["columns"] = columns
        if update:
            self.param.update(**update)
        return notices
