"""Where build-cache data comes from: one :class:`~dashboard.sources.base.Source`
subclass per kind of build cache, each in its own module, all listed in
:data:`SOURCES` (see :mod:`dashboard.sources.base` for what a source is)."""

from __future__ import annotations

import os
from typing import Iterable

from dashboard.sources.base import LoadOptions, Source
from dashboard.sources.mirror import MirrorSource
from dashboard.sources.pages import PagesSource

__all__ = ["SOURCES", "LoadOptions", "Source", "open_sources"]

#: The kinds of source, asked in order: the first whose ``claims`` is true reads a location.
SOURCES: tuple[type[Source], ...] = (
    MirrorSource,
    PagesSource,
)


def open_sources(source: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Source]:
    """The sources that read ``source`` (a location, or several): each location goes to
    the first kind in :data:`SOURCES` that claims it; locations of a kind that
    ``joins_locations`` are one source (but a path that does not exist is its own, so
    that it fails alone), in the order given.  No location: the last
    kind (the catch-all) reading nothing, a load of nothing."""
    locations = [os.fspath(source)] if isinstance(source, (str, os.PathLike)) else [os.fspath(s) for s in source]
    groups: dict[type[Source], list[str]] = {}
    out: list[Source] = []
    for location in locations:
        kind = next(k for k in SOURCES if k.claims(location))
        if kind.joins_locations and os.path.exists(location):  # a missing one alone: it fails alone
            if kind not in groups:
                groups[kind] = []
                out.append(kind(groups[kind]))
            groups[kind].append(location)
        else:
            out.append(kind([location]))
    return out or [SOURCES[-1]([])]
