"""What a source of build-cache data is, for :func:`dashboard.load.load`.

A :class:`Source` is one kind of build cache the dashboard reads, named by
locations the user gives (``--data``, a notebook's ``load(...)``):

* :class:`dashboard.sources.pages.PagesSource`: cache.spack.io summary pages
  (``_cache/<tag>/<package>/specs.md``), a page, a folder or a list of them;
* :class:`dashboard.sources.mirror.MirrorSource`: Spack build caches (mirrors):
  a v2 ``build_cache/index.json`` or v3 ``v3/manifests`` layout on a local path,
  ``file://``, ``http(s)://`` or ``s3://``; an OCI registry (``oci://``,
  ``oci+http://``); or a list of them (a mirror-set YAML file, Spack's
  ``mirrors.yaml``, ``cache_spack_io_index.json``).

Every source yields the tables of :mod:`dashboard.core.schema` (one canonical Arrow
schema), turns them into DataFrames with :func:`dashboard.frames.to_frames`, keeps
what it read in the store under ``cache_dir`` and answers freshness from it (a
page's size and mtime; a mirror index's checksum, ETag or OCI digest: an
unchanged source costs one small request or ``stat``), and reports what it
could not read as ``problems`` rows naming the location, never raising for one
bad page or mirror.

Adding a kind of source is one module with a :class:`Source` subclass and one
line in :data:`dashboard.sources.SOURCES`.  No pandas import here, no Panel.
"""

from __future__ import annotations

import abc
import contextlib
import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar

if TYPE_CHECKING:
    from dashboard.model import CacheData

#: ``progress(done, total)`` for pages, ``progress(done, total, unit)`` for mirrors
#: (``unit``: ``"mirror"``, ``"B"`` downloaded, ``"manifest"`` read; ``total`` may be ``None``).
ProgressFn = Callable[..., None]


@dataclass(frozen=True)
class LoadOptions:
    """How to load, the same for every source.

    Attributes:
        cache: read and write the local store.
        cache_dir: the store's folder (``None``: each source's default under
            :func:`dashboard.store.store_base`).
        workers: parser processes (pages; ``None``: one per core, big trees only).
        progress: see :data:`ProgressFn`.
        sizes: mirrors: read each binary's size in bytes (one small request per
            binary, cached; pages carry sizes already).
    """

    cache: bool = True
    cache_dir: str | None = None
    workers: int | None = None
    progress: ProgressFn | None = None
    sizes: bool = False


class SourceError(Exception):
    """A whole source cannot be read (its message names it and says why), e.g. a
    mirror list that is not one; a single bad page or mirror is a problem row instead."""


class Source(abc.ABC):
    """One kind of build cache, read from ``locations`` (see the module docstring).

    Subclasses set :attr:`kind`, say which locations they read (:meth:`claims`) and
    load them (:meth:`load`)."""

    #: What this kind of source is called in messages ("pages", "mirror").
    kind: ClassVar[str]
    #: ``True`` when several locations of this kind are read as one source (one
    #: store over all of them, as for a list of pages); else one source each.
    joins_locations: ClassVar[bool] = False

    def __init__(self, locations: list[str]):
        self.locations = locations

    @property
    def label(self) -> str:
        """The locations, as :attr:`dashboard.model.CacheData.source` shows them."""
        return ";".join(self.locations)

    @classmethod
    @abc.abstractmethod
    def claims(cls, location: str) -> bool:
        """``True`` when ``location`` (a path or URL, never opened here beyond a
        ``stat``) is this kind of source."""

    @abc.abstractmethod
    def load(self, options: LoadOptions) -> CacheData:
        """Read the source (through the store when ``options.cache``).

        Returns:
            A :class:`dashboard.model.CacheData`; what could not be read is rows of
            its ``problems`` (``path`` = the page or mirror).

        Raises:
            FileNotFoundError: a location that does not exist.
            SourceError: the source as a whole cannot be read (e.g.
                :class:`dashboard.sources.mirror_fetch.MirrorError`: a mirror list that
                cannot be read).
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"


@contextlib.contextmanager
def no_cyclic_gc():
    """A context in which the cyclic garbage collector is paused (and resumed after
    if it ran before).

    For parsers: they allocate millions of short-lived containers (decoded records)
    and make no cycles, and the collector would walk every young one again and
    again (~15% of an index parse at 100,000 records, ~7% of a page chunk).
    Reference counting still frees each as it goes.  Another thread's parse may
    overlap: the collector is on again once the first that paused it is done."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
