"""Spack's own meaning of a few values: version order and compiler spelling.

Pure Python (no pandas, no Panel); used by the loader, the queries and the
export so that every view orders and names things the same way.

Version order follows Spack's ``StandardVersion`` comparison: a version is
split into numeric and alphabetic components at separators (``.``, ``-``,
``_``) and at digit/letter boundaries; numeric components compare as numbers
and sort above alphabetic ones (``1.2a < 1.2.0``); a version that is a prefix
of another is older (``1.2 < 1.2.0``).  The branch names Spack treats as
"infinity versions" are newer than any numbered version, ``develop`` newest.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Spack's infinity versions, oldest to newest: each is newer than every numbered version.
INFINITY_VERSIONS = ("stable", "trunk", "head", "master", "main", "develop")
_INFINITY_RANK = {name: rank for rank, name in enumerate(INFINITY_VERSIONS)}
_COMPONENT = re.compile(r"\d+|[A-Za-z]+")


@lru_cache(maxsize=65536)
def version_key(version: str) -> tuple:
    """Sort key giving Spack's version order (ascending: oldest first).

    Args:
        version: a version as the pages write it (``"1.14.5"``, ``"develop"``,
            ``"2.26-t9b_atlas"``); a list of versions joined by ``", "`` sorts
            by its first version.  Any string is accepted; one without a digit
            or a known branch name sorts below every numbered version.

    Returns:
        A tuple comparable with the key of any other version.
    """
    first = str(version).split(",", 1)[0].strip()
    lowered = first.lower()
    if lowered in _INFINITY_RANK:
        return (2, _INFINITY_RANK[lowered], first)
    parts = tuple((1, int(c), "") if c.isdigit() else (0, 0, c.lower()) for c in _COMPONENT.findall(first))
    # a version with no number at all (e.g. "none") goes below every real version
    return (1 if any(p[0] for p in parts) else 0, parts, first)


def sort_versions(versions, newest_first: bool = False) -> list[str]:
    """``versions`` as strings in Spack's order (see :func:`version_key`)."""
    return sorted(map(str, versions), key=version_key, reverse=newest_first)


def normalize_compiler(compiler: str) -> str:
    """One spelling per compiler: ``gcc@=11.4.0`` (older pages) -> ``gcc@11.4.0``.

    Spack writes an exact version as ``@=``; the pages use both spellings for
    the same compiler, so the ``=`` is dropped.  ``"none"`` and other values
    without ``@=`` are returned as they are.
    """
    return compiler.replace("@=", "@") if "@=" in compiler else compiler
