"""The loaded data: :class:`CacheData`, one build cache (any number of tags) as
pandas DataFrames, and :class:`LoadReport`, what the load that made it did.
Pure pandas, no Panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

#: Columns of :attr:`CacheData.nodes`.
NODE_COLUMNS = ("tag", "hash", "package", "version", "compiler", "os", "platform", "target", "variants", "external", "package_hash")


@dataclass
class LoadReport:
    """What one :func:`dashboard.load.load` did.

    Attributes:
        store: ``"cold"`` (everything parsed: no usable store, or the store
            was off) or ``"warm"`` (unchanged pages read from the store).
        reason: why a load was cold (``"no cache"``, ``"cache off"``,
            ``"corrupt cache (...)"``, ...); ``""`` when warm.
        pages: pages found in the source.
        parsed: pages parsed by this load (new, changed, or all when cold).
        from_store: pages read from the store unchanged.
        removed: pages in the store that are gone from the source.
        store_note: what happened to the store, e.g. ``"cache: segment added
            (52 spec rows)"``, ``"cache: rewritten"``, ``"cache not written
            (...)"``, or ``""``.
        timings: seconds spent opening the store (``cache_open_s``), checking
            the source (``scan_s``), parsing while the store's segments are
            read (``parse_s``), building frames (``frames_s``), waiting for the
            store to be written (``cache_write_s``: it is written while the
            frames are built) and in all (``total_s``).
    """

    store: str = "cold"
    reason: str = ""
    pages: int = 0
    parsed: int = 0
    from_store: int = 0
    removed: int = 0
    store_note: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    #: For a mirror source: what fetching did (a
    #: :class:`dashboard.sources.mirror.MirrorLoad`: mirrors, fetched,
    #: unchanged, offline, failed, bytes, sizes_fetched, notes); ``None`` for pages.
    mirrors: object | None = None

    def __str__(self) -> str:
        """One line, e.g. ``"warm: 74 pages from cache, 1 re-parsed, 0 removed"``,
        ``"cold (no cache): 74 pages parsed"`` or, for mirrors, ``"mirrors: 12
        (2 downloaded, 10 unchanged in the local cache, 0 offline, 0 failed),
        1.2 MB downloaded"``."""
        m = self.mirrors
        if m is not None:
            text = (f"mirrors: {m.mirrors} ({m.fetched} downloaded, {m.unchanged} unchanged in the local cache, "
                    f"{m.offline} offline, {m.failed} failed), {m.bytes / 1e6:.1f} MB downloaded")
            if m.sizes_fetched:
                text += f", {m.sizes_fetched} spec manifests read for sizes"
            return text + "".join(f"; {note}" for note in m.notes)
        if self.store == "warm":
            text = f"warm: {self.from_store} pages from cache, {self.parsed} re-parsed, {self.removed} removed"
        else:
            text = f"cold ({self.reason}): {self.parsed} pages parsed"
        return text + (f"; {self.store_note}" if self.store_note else "")


@dataclass
class CacheData:
    """One loaded build cache (any number of tags), as pandas DataFrames.

    Attributes:
        specs: one row per binary (per tag: the same hash in two tags is two rows).
            Columns: ``tag``, ``package``, ``version``, ``compiler``, ``os``,
            ``platform``, ``target``, ``variants`` (space-separated), ``stacks``
            (comma-separated, for display) - all ``category``; ``hash`` (``str``),
            ``size`` (``Int64``, bytes, ``<NA>`` where the page says ``"-"`` or a
            mirror's sizes were not read), ``n_deps`` (``Int64``, direct
            dependencies; ``<NA>`` for pages), ``package_hash`` (``category``: Spack's
            hash of the package recipe; ``NaN`` for pages), ``page_id`` (``int32``).  The index is the spec id ``0..n-1``.
        spec_stacks: one row per spec per stack: ``spec`` (``int32``, a position in
            ``specs``), ``stack`` (``category``).  Counting by stack is a groupby.
        pages: one row per page, also pages that failed: ``page_id``,
            ``path``, ``tag``, ``package`` (``category``), ``num_specs`` (rows
            loaded, ``int64``), ``meta_num_specs`` (``Int64``), ``meta_stacks``,
            ``meta_oss``, ``meta_platforms``, ``meta_targets``, ``meta_versions``,
            ``meta_compilers`` (comma-separated ``str`` from the ``meta`` rollup),
            ``error`` (``str``, ``<NA>`` when the page loaded).
        meta_stacks: ``meta.num_specs_by_stack`` long: ``page_id`` (``int32``),
            ``stack`` (``category``), ``num_specs`` (``int64``).
        problems: one row per problem: ``path``, ``tag``, ``package``,
            ``severity`` (``"error"``: page not loaded; ``"warning"``: loaded, but
            something is off, e.g. ``meta`` disagrees with ``spec_details``),
            ``problem`` (text).
        source: what was loaded (path or description).
        report: what the load did (:class:`LoadReport`).
        dependencies: one row per dependency edge of a binary (mirror sources;
            empty for pages): ``page_id`` (``int32``), ``hash``, ``dep_hash``
            (``str``), ``dep_name``, ``deptypes``, ``virtuals`` (``category``,
            comma-separated).  A dependency need not be a binary itself.
        mirrors: the mirrors a mirror source read: ``tag``, ``stack``, ``url``
            (``str``); empty for pages.
        nodes: the records of a mirror's index that are not binaries (externals such
            as a system compiler, and dependencies that were not pushed): ``tag``,
            ``hash``, ``package``, ``version``, ``compiler``, ``os``, ``platform``,
            ``target``, ``variants`` (``str``), ``external`` (``bool``: Spack's
            ``external`` entry, e.g. a system compiler), ``package_hash`` (``str``);
            empty for pages.  Dependency
            edges (``dependencies``) may point at them.
    """

    specs: pd.DataFrame
    spec_stacks: pd.DataFrame
    pages: pd.DataFrame
    meta_stacks: pd.DataFrame
    problems: pd.DataFrame
    source: str = ""
    report: LoadReport = field(default_factory=LoadReport)
    dependencies: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"page_id": pd.Series(dtype="int32"), **{c: pd.Series(dtype="str") for c in ("hash", "dep_hash")},
         **{c: pd.Series(dtype="category") for c in ("dep_name", "deptypes", "virtuals")}}))
    mirrors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({c: pd.Series(dtype="str") for c in ("tag", "stack", "url")}))
    nodes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({c: pd.Series(dtype="bool" if c == "external" else "str") for c in NODE_COLUMNS}))
    #: Structures derived from this data once and shared by every session that
    #: shows it (e.g. the query index, see :func:`dashboard.domain.query.index_for`).
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def cache_status(self) -> str:
        """:attr:`report` as one line (see :meth:`LoadReport.__str__`)."""
        return str(self.report)

    @property
    def tags(self) -> list[str]:
        """Tags (mirror snapshots) that have at least one loaded page, sorted."""
        return sorted(self.pages.loc[self.pages["error"].isna(), "tag"].astype(str).unique())

    def failed_sources(self) -> pd.DataFrame:
        """The ``problems`` rows of sources that could not be read (a mirror, a registry
        or a whole source: ``error`` rows not about a page): ``path``, ``problem``."""
        p = self.problems
        return p.loc[(p["severity"] == "error") & p["package"].isna(), ["path", "problem"]].reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """Per-tag counts plus a ``TOTAL`` row.

        Returns:
            DataFrame indexed by tag with int columns ``packages`` (packages loaded:
            a page each, for pages), ``specs``, ``stacks``, ``oss``, ``targets``,
            ``problems``, ``size`` (``Int64``: bytes of the binaries whose size is
            known, ``<NA>`` when none is) and ``sizes_unknown`` (binaries whose size
            is not known).
        """
        specs = self.specs
        ok = self.pages[self.pages["error"].isna()]
        stacks = self.spec_stacks.assign(tag=specs["tag"].to_numpy()[self.spec_stacks["spec"].to_numpy()])
        rows = {}
        for tag in self.tags + ["TOTAL"]:
            sel = slice(None) if tag == "TOTAL" else specs["tag"] == tag
            st = stacks if tag == "TOTAL" else stacks[stacks["tag"] == tag]
            pg = ok if tag == "TOTAL" else ok[ok["tag"] == tag]
            pr = self.problems if tag == "TOTAL" else self.problems[self.problems["tag"] == tag]
            sp = specs.loc[sel]
            known = sp["size"].notna()
            rows[tag] = {
                "packages": len(pg),
                "specs": len(sp),
                "stacks": st["stack"].nunique(),
                "oss": sp["os"].nunique(),
                "targets": sp["target"].nunique(),
                "problems": len(pr),
                "size": int(sp.loc[known, "size"].sum()) if known.any() else pd.NA,
                "sizes_unknown": int((~known).sum()),
            }
        out = pd.DataFrame.from_dict(rows, orient="index")
        if len(out):
            out["size"] = out["size"].astype("Int64")
        return out
