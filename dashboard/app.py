"""The Panel app: the session's state, the components bound to it, the served page.

Run it any of these ways (the package must be installed, ``pip install -e .``)::

    spack-cache-dashboard serve [--data PATH]
    panel serve dashboard/app.py [--args --data PATH]
    # in Jupyter:  from dashboard.app import CacheDashboard; CacheDashboard.from_path("assets/pages")

The data path comes from ``--data PATH``, else ``$SPACK_CACHE_DASHBOARD_DATA``,
else the real pages shipped with the package (see :mod:`dashboard.config`).  A
loaded data set is shared by all sessions of one server process (Panel's
``pn.state.as_cached``).
"""

from __future__ import annotations

import ctypes
import gc
import html
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlencode

import panel as pn
import param
from bokeh.settings import settings as bokeh_settings

from dashboard.ui.components import Headline, Heatmaps, Problems, Selectors, SpecTable
from dashboard.ui.questions import CompareView, FindView, HostFilter, RunsHereView, StorageView, WhyView
from dashboard.config import data_path, verify_options, wants_sizes
from dashboard.domain import query
from dashboard.load import CacheData, load
from dashboard.ui.state import DashboardState
from dashboard.core.terms import PROGRESS, VIEWS

TITLE = "Spack build cache"
#: The question views (:mod:`dashboard.ui.questions`) by ``state.view`` name.
QUESTION_VIEWS = {"runs-here": RunsHereView, "compare": CompareView, "why": WhyView, "storage": StorageView, "find": FindView}

#: ``pn.extension`` arguments the dashboard needs; entry points (``served_page``,
#: the notebook) call ``pn.extension`` themselves, importing this module does not.
EXTENSIONS = ("tabulator",)


#: Milliseconds from a change's answer (numbers, heatmaps, table) to the selectors' new
#: option counts, sent in a second message.  The browser rebuilds a selector whose options
#: change (Bokeh's MultiChoice): ~40 ms a pick at 2M rows, on top of drawing the answer
#: (~100-180 ms); arriving later, the counts no longer hold the answer back.
RELABEL_DELAY_MS = 200


def after_drawn(callback) -> None:
    """Run ``callback`` :data:`RELABEL_DELAY_MS` after this change, the model changes it
    makes sent as one message (once the page is loaded, when it is not yet); at once
    where there is no served session (notebook, tests).  The ``later`` of :class:`~dashboard.ui.state.DashboardState`."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        callback()
        return

    def run():
        with pn.io.hold(doc):
            callback()

    if not pn.state.loaded:
        # the page is not in the browser yet: a change made before it connects may never
        # reach it (a view built from a URL's ``view=`` stayed a spinner on a busy machine)
        pn.state.onload(run)
        return
    doc.add_timeout_callback(run, RELABEL_DELAY_MS)


def serve_without_mathjax() -> None:
    """Leave MathJax out of served pages: 1.8 MB of JavaScript, ~80 ms of every first
    render in Chromium.  Panel sends it with any Markdown or HTML pane in case their text
    holds LaTeX; the dashboard shows spec data, never formulas (without it a ``$`` in a
    variant stays a ``$``).  Panel has no setting for this, so this replaces its check
    (``panel.io.resources._panel_use_mathjax``); Bokeh's own check (math text models,
    which the dashboard has none of) still applies."""
    from panel.io import resources

    if hasattr(resources, "_panel_use_mathjax"):  # a Panel without it: MathJax is sent, nothing breaks
        resources._panel_use_mathjax = _no_mathjax


def _no_mathjax(roots) -> bool:
    return False


def serve_without_webgl() -> None:
    """Leave Bokeh's WebGL bundle (``bokeh-gl.min.js``, 194 kB) out of served pages:
    every heatmap draws on canvas (``output_backend="canvas"``, see
    :func:`dashboard.ui.views.heatmap`), so each first render compiled it for nothing.
    Panel has no setting for this: the page's bundle is made without that component
    (``panel.io.server.bundle_resources`` is wrapped once per process)."""
    from panel.io import server

    bundle = server.bundle_resources
    if getattr(bundle, "_without_webgl", False):
        return

    def bundle_without_webgl(roots, resources, *args, **kwargs):
        components = getattr(resources, "components", None)
        if components is not None and "bokeh-gl" in components and hasattr(resources, "clone"):
            resources = resources.clone(components=[c for c in components if c != "bokeh-gl"])
        return bundle(roots, resources, *args, **kwargs)

    bundle_without_webgl._without_webgl = True
    server.bundle_resources = bundle_without_webgl


def shared_data(path: str, progress=None, sizes: bool = False, verify: tuple | None = None) -> CacheData:
    """Load ``path`` once per process (Panel's cache shared by all sessions); sessions
    arriving during the load wait for it.  ``progress`` is only called by the
    session that started the load; ``sizes``: see :func:`dashboard.load.load`;
    ``verify``: ``(trusted_keys_dir, gnupghome)`` (either ``None``) to check each
    binary's signature (:func:`dashboard.domain.verify.with_signatures`), ``None`` not to.

    Raises:
        dashboard.sources.signatures.KeyError_: a trusted key that cannot be read."""
    key = _cache_key(path, sizes, verify)

    def read() -> CacheData:
        data = load(path, progress=progress, sizes=sizes)
        if verify is not None:
            from dashboard.sources.signatures import trusted_keys
            from dashboard.domain.verify import with_signatures

            if progress is not None:
                progress(0, None, "signature")
            data = with_signatures(data, trusted_keys(*verify))
        query.index_for(data)  # shared by every session: built before the first, not by it
        return data

    data = pn.state.as_cached(key, read)
    if key not in _loaded:
        _loaded.add(key)
        trim_memory()  # what the load freed goes back to the system: the server's resting size
    return data


def trim_memory() -> None:
    """Collect unreachable objects, drop the dead copy-on-write references pandas keeps
    on the shared data's blocks (:func:`drop_dead_block_references`), and give the freed
    heap back to the system (glibc's ``malloc_trim``; elsewhere only the collection)."""
    gc.collect()
    drop_dead_block_references()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def drop_dead_block_references() -> int:
    """Drop the dead weak references pandas' copy-on-write keeps on every block of a
    DataFrame a session took a view of; returns how many were dropped.

    Each view a session takes of the shared frames (a column, a filtered slice) adds a
    weak reference to the frame's block, and pandas prunes a block's list only when the
    next view is taken and the list has passed a threshold (500, doubled while many
    views are alive).  So after sessions close, thousands of dead references (at 2M
    spec rows, ~3,800 after 40 sessions) stay behind, allocated in between the sessions'
    freed objects, and keep those pages of the heap resident: ~11 MB that
    ``malloc_trim`` could not give back (``python -m benchmarks.browser --memory``).
    pandas' ``BlockValuesRefs.has_reference`` prunes the list before it answers; a
    pandas without that class drops nothing."""
    try:
        from pandas._libs.internals import BlockValuesRefs
    except ImportError:  # another pandas: nothing to drop
        return 0
    dropped = 0
    for obj in gc.get_objects():
        if type(obj) is BlockValuesRefs:
            before = len(obj.referenced_blocks)
            obj.has_reference()
            dropped += before - len(obj.referenced_blocks)
    return dropped


_loaded: set[str] = set()  # keys of shared_data that finished loading in this process


def _cache_key(path: str, sizes: bool = False, verify: tuple | None = None) -> str:
    where = path if "://" in path else os.path.abspath(path)
    return f"spack-cache-dashboard:{where}:{'sizes' if sizes else ''}:{verify!r}"


#: Seconds without a session ending before :func:`release_memory` collects (Bokeh drops
#: expired sessions in bursts; one collection per burst, not one per session).
RELEASE_DELAY_S = 2.0
_release = {"last": 0.0, "pending": False}


def release_memory(session_context) -> None:
    """After sessions end: once none has ended for :data:`RELEASE_DELAY_S`, collect
    their objects (a session's document, widgets and plots refer to each other) and
    give the freed heap back to the system (glibc's ``malloc_trim``; elsewhere only
    the collection), so a server's memory returns to what the shared data set needs
    once its users leave.

    Registered with ``pn.state.on_session_destroyed``; runs on the server's event
    loop.  A full collection takes ~0.3 s on a loaded server, during which no
    session is answered: Bokeh ends expired sessions together, so the work waits
    for the burst to finish and is done once."""
    from tornado.ioloop import IOLoop

    _release["last"] = time.monotonic()
    if _release["pending"]:
        return
    _release["pending"] = True

    def when_quiet():
        wait = _release["last"] + RELEASE_DELAY_S - time.monotonic()
        if wait > 0:
            IOLoop.current().call_later(wait, when_quiet)
            return
        _release["pending"] = False
        trim_memory()

    IOLoop.current().call_later(RELEASE_DELAY_S, when_quiet)


def is_loaded(path: str, sizes: bool = False, verify: tuple | None = None) -> bool:
    """Whether :func:`shared_data` holds ``path`` already (no wait for a new session)."""
    return _cache_key(path, sizes, verify) in _loaded


@contextmanager
def styled_as_the_page(layout: pn.layout.ListLike):
    """Within it, components built and added to ``layout`` (in a served page) get the
    style sheets the page's template gave the components it was built with: they are
    made without a design of their own, then Panel's design is applied to them as a
    template applies it (``isolated=False``).

    Otherwise a component made after the page takes the session's design as its own
    and carries the design's whole set in its shadow root: Bootstrap's 221 kB sheet,
    its theme and modifiers, in each of ~20 components of a question view; and
    Bootstrap's heading sizes, so the same view looked different opened from a URL
    (``?view=compare``, built with the page) and from its tab.  In a notebook (no
    template, no server session) nothing changes."""
    design = getattr(layout, "_design", None)
    roots = [doc.get_model_by_id(ref) for ref, (model, _) in list(layout._models.items())
             if (doc := model.document) is not None and doc.session_context is not None]
    roots = [root for root in roots if root is not None]
    if design is None or not roots:
        yield
        return
    with pn.config.set(design=None):
        yield
    for root in roots:
        design.apply(layout, root, isolated=False)


class CacheDashboard(pn.viewable.Viewer):
    """Build-cache dashboard for one :class:`~dashboard.load.CacheData`: the session's
    :class:`~dashboard.ui.state.DashboardState` and the components bound to it
    (:mod:`dashboard.ui.components`).

    Displays as a sidebar + main layout (notebooks, ``pn.Row``-style embedding);
    :func:`served_page` puts :meth:`sidebar` and :meth:`main` in a page template.
    """

    state = param.ClassSelector(class_=DashboardState)

    def __init__(self, data: CacheData, url_args: Mapping[str, Sequence[str | bytes]] | None = None, **params):
        """``url_args``: a page URL's query (``pn.state.session_args``), applied before the
        components are built; what it could not apply is in :attr:`url_notices`."""
        super().__init__(state=DashboardState(data, batch=pn.io.hold, later=after_drawn), **params)
        #: the URL's values that were ignored, each a sentence naming the value and why
        self.url_notices: list[str] = self.state.apply_url_query(url_args) if url_args else []
        self.selectors = Selectors(state=self.state)
        self.headline = Headline(state=self.state)
        # updated in this order after each change, within one message (state.batch)
        self.heatmaps = Heatmaps(state=self.state)
        self.specs = SpecTable(state=self.state)
        self.problems = Problems(state=self.state)
        self.host = HostFilter(state=self.state)
        #: the question views, each built the first time it is shown (a session that never
        #: opens one never pays for it)
        self.questions: dict[str, pn.viewable.Viewer | None] = {}  # None: being built
        self._slots = {name: pn.Column(sizing_mode="stretch_width", margin=0) for name in QUESTION_VIEWS}
        overview = pn.Column(self.headline, self.heatmaps, self.specs, self.problems, sizing_mode="stretch_width")
        views = {"overview": overview, **self._slots}
        # one tab per view; only the shown tab is rendered (dynamic)
        # the tab headers wrap onto a second row in a narrow window rather than run off its edge
        self.tabs = pn.Tabs(*[(VIEWS[name], views[name]) for name in VIEWS], dynamic=True, sizing_mode="stretch_width", name="views",
                            stylesheets=[".bk-headers-wrapper { flex-wrap: wrap; }"])
        self.tabs.active = list(VIEWS).index(self.state.view)
        self.tabs.param.watch(lambda e: setattr(self.state, "view", list(VIEWS)[e.new]), "active")
        self.state.param.watch(self._show_view, "view")
        self._show_view(at_once=True)

    def _show_view(self, *_, at_once: bool = False):
        """Follow ``state.view``: its tab active, its question view built on first show.
        Building one can take seconds on a big cache (*What changed?* compares two whole
        tags): the tab shows a busy spinner first, and the view replaces it once built
        (``state.later``: after the spinner is drawn in a served page; at once elsewhere).
        ``at_once``: build it now, as the page is made (a URL's ``view=``): the page is
        not drawn yet, and swapping views while the browser draws it breaks its drawing."""
        name = self.state.view
        if name in QUESTION_VIEWS and name not in self.questions:
            self.questions[name] = None  # being built

            def build():
                with styled_as_the_page(self._slots[name]):
                    self.questions[name] = QUESTION_VIEWS[name](state=self.state)
                    self._slots[name][:] = [self.questions[name]]

            if at_once:
                build()
            else:
                self._slots[name][:] = [pn.Row(
                    pn.indicators.LoadingSpinner(value=True, size=28),
                    pn.pane.HTML(f"Working out <b>{html.escape(VIEWS[name])}</b> for the selection ...", css_classes=["view-busy"]),
                    align="center",
                )]
                self.state.later(build)
        self.tabs.active = list(VIEWS).index(name)

    @classmethod
    def from_path(cls, path: str | os.PathLike, **load_kwargs) -> "CacheDashboard":
        """Load ``path`` (see :func:`dashboard.load.load`) and build the dashboard."""
        return cls(load(path, **load_kwargs))

    def follow_url(self, location: pn.io.location.Location) -> None:
        """Keep the page URL's query equal to the selection (see
        :meth:`DashboardState.url_query`), now and after every change, so the
        URL can be shared; :meth:`DashboardState.apply_url_query` reads it back."""

        ours = {"search": "", "restored": 0}

        def write(*_):
            pairs = self.state.url_query()
            ours["search"] = f"?{urlencode(pairs)}" if pairs else ""
            location.search = ours["search"]

        def keep(event):
            # the browser reports its own URL once it has rendered the page, maybe after
            # our first write (the old query, with values we dropped): put ours back
            if event.new.lstrip("?") != ours["search"].lstrip("?") and ours["restored"] < 3:
                ours["restored"] += 1
                location.search = ours["search"]

        self.state.param.watch(write, ["result", "view", "compare_by", "tag_a", "tag_b", "why_old", "why_new", "why_cause", "keep_tags", "find"])
        location.param.watch(keep, "search")
        write()

    def sidebar(self) -> list:
        """Sidebar components: selectors, search, top-N slider, reset, host filter."""
        return [self.selectors, self.host]

    def main(self) -> list:
        """Main-area components: one tab per view (:data:`dashboard.core.terms.VIEWS`):
        the overview (numbers, heatmaps, spec table, problems), then the questions."""
        return [self.tabs]

    def __panel__(self):
        return pn.Row(
            pn.Column(*self.sidebar(), width=320, sizing_mode="fixed"),
            pn.Column(*self.main(), sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )


#: Marks Bokeh's tab headers up as tabs and lets the keyboard reach and switch them.
TABS_A11Y_JS = (Path(__file__).parent / "static" / "tabs_a11y.js").read_text()
THEME_LINK_JS = (Path(__file__).parent / "static" / "theme_link.js").read_text()
A11Y_ROLES_JS = (Path(__file__).parent / "static" / "a11y_roles.js").read_text()
BUSY_BADGE_JS = (Path(__file__).parent / "static" / "busy_badge.js").read_text()


class Page(pn.template.BootstrapTemplate):
    """The served page: Panel's Bootstrap template whose document indexes its models
    once, after the whole page is in it (Bokeh re-walks every model of a document at
    each root added: ~40 ms of each new session at 2M rows)."""

    def server_doc(self, doc=None, title=None, location=True):
        """See :meth:`panel.template.BaseTemplate.server_doc`."""
        doc = doc if doc is not None else pn.state.curdoc
        if doc is None:
            return super().server_doc(doc, title, location)
        with doc.models.freeze():
            doc = super().server_doc(doc, title, location)
        from bokeh.events import DocumentReady
        from bokeh.models import CustomJS

        # the view tabs as tabs for the keyboard and screen readers (see the script)
        doc.js_on_event(DocumentReady, CustomJS(code=TABS_A11Y_JS))
        # the theme link keeps the current selection (see the script)
        doc.js_on_event(DocumentReady, CustomJS(code=THEME_LINK_JS))
        # names and roles Panel's widgets leave out (see the script)
        doc.js_on_event(DocumentReady, CustomJS(code=A11Y_ROLES_JS))
        # "Working ..." when the server takes more than 300 ms to answer (see the script)
        doc.js_on_event(DocumentReady, CustomJS(code=BUSY_BADGE_JS))
        return doc


def theme_switch(args: dict) -> pn.pane.HTML:
    """A header link to the other theme (Panel's ``?theme=dark`` / ``?theme=default``),
    keeping the rest of the address (the selection) as it is; a real link, so the
    keyboard reaches it."""
    dark = [v.decode() if isinstance(v, bytes) else str(v) for v in args.get("theme", [])][-1:] == ["dark"]
    target = "default" if dark else "dark"
    return pn.pane.HTML(
        f'<a class="theme-switch" href="?theme={target}" style="color:#fff;text-decoration:underline">'
        f'{"Light theme" if dark else "Dark theme"}</a>',
        margin=(12, 10), sizing_mode="fixed", width=110, css_classes=["theme-switch-pane"],
    )


def served_page(path: str | None = None, sizes: bool | None = None, verify=...) -> Page:
    """A page for ``panel serve``: the template shows load progress, then the dashboard.
    ``sizes`` and ``verify`` (see :func:`shared_data`) default to the command line's
    ``--sizes`` and ``--verify``.

    Loading runs in a thread so the progress bar updates; the data set is loaded
    once per process and shared by later sessions.  The page URL's query
    (``?tag=...&stack=...``) selects what it names and follows later changes;
    unknown values are ignored and listed in a warning at the top.
    """
    path = path or data_path()
    sizes = wants_sizes() if sizes is None else sizes
    verify = verify_options() if verify is ... else verify
    pn.extension(*EXTENSIONS, sizing_mode="stretch_width")
    serve_without_mathjax()
    serve_without_webgl()
    if "BOKEH_VALIDATE_DOC" not in os.environ:
        # Bokeh's checks of each new session's document (~30 ms a session at 2M rows) are
        # for developers: BOKEH_VALIDATE_DOC=true turns them back on
        bokeh_settings.perform_document_validation.set_value(False)
    if "BOKEH_PERFORM_ERROR_DIAGNOSTICS" not in os.environ:
        # nor its check of every callback's signature as a session's models are linked
        # (~280 a session, ~10 ms at 2M rows): BOKEH_PERFORM_ERROR_DIAGNOSTICS=true
        bokeh_settings.perform_error_diagnostics.set_value(False)
    # Bootstrap, not Fast: the Fast design always fetches a web font from the internet, and
    # the page must load nothing from outside the machine (air-gapped sites)
    # no busy indicator: Panel's busy state is the whole process's, so each session's
    # spinner would spin (and each page restyle, two messages a session) whenever
    # any other session recomputes
    template = Page(title=TITLE, sidebar_width=330, header_background="#0f5b97", busy_indicator=None)
    template.header.append(theme_switch(dict(pn.state.session_args)))
    bar = pn.indicators.Progress(label="Loading", value=-1, max=100, sizing_mode="stretch_width")
    text = pn.pane.Str(f"Loading the build cache {path} ...")
    template.main.append(pn.Column(text, bar))
    # the template's own sidebar/main lists are fixed once rendered: fill Columns inside them
    sidebar = pn.Column(pn.pane.Markdown("Loading ..."), sizing_mode="stretch_width")
    template.sidebar.append(sidebar)
    # captured here: the load thread has no current session
    location, args = pn.state.location, dict(pn.state.session_args)

    def progress(done: int, total: int | None, unit: str = "page"):
        bar.param.update(value=int(100 * done / max(total, 1)) if total else -1)
        what = PROGRESS.get(unit, unit)
        text.object = f"{what}: {done:,}" + (f" / {total:,}" if total else "")

    def fill() -> CacheDashboard | None:
        try:
            dashboard = CacheDashboard(shared_data(path, progress=progress, sizes=sizes, verify=verify), url_args=args)
        except Exception as exc:  # show it, never an error page
            logging.getLogger(__name__).exception("loading %s failed", path)
            text.object = f"Could not load {path}: {type(exc).__name__}: {exc}"
            bar.visible = False
            return None
        notices = dashboard.url_notices
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

    pn.state.on_session_destroyed(release_memory)
    # The URL is rewritten only once the browser has rendered the page and
    # reported its own URL, which would otherwise overwrite ours.
    if is_loaded(path, sizes, verify):
        dashboard = fill()
        pn.state.onload(lambda: follow(dashboard))
    else:
        pn.state.onload(lambda: threading.Thread(target=lambda: follow(fill()), daemon=True).start())
    return template


if __name__.startswith("bokeh_app"):  # `panel serve dashboard/app.py`
    served_page().servable(title=TITLE)
