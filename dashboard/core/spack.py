"""Spack's own meaning of a few values: version order, version constraints, compiler
spelling.

Pure Python (no pandas, no Panel); used by the loader, the queries and the
export so that every view orders and names things the same way.

Versions follow Spack's ``spack.version`` (``StandardVersion``, ``ClosedOpenRange``): a
version splits into numeric and alphabetic components (``[0-9]+|[a-zA-Z]+``, separators
``.``, ``-``, ``_`` ignored); numbers compare as numbers (``2023.02`` equals ``2023.2``),
words as text (case-sensitive) and below numbers, except Spack's "infinity versions"
(``stable`` < ``nightly`` < ``trunk`` < ``head`` < ``master`` < ``main`` < ``develop``),
which are above every number; a version that is a prefix of another is older (``1.2 <
1.2.0 < 1.2a``... and ``1.2a < 1.2.0``); a trailing ``alpha``/``beta``/``rc`` (with an
optional number) marks a pre-release, older than the release (``1.14-rc1 < 1.14``).
``tests/oracle/spack_versions.json`` holds Spack's own answers for 338 real version strings
and 255 constraints; the tests check that these functions agree with every one.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

#: Spack's infinity versions, oldest to newest: each is newer than every numbered version.
INFINITY_VERSIONS = ("stable", "nightly", "trunk", "head", "master", "main", "develop")
_INFINITY_RANK = {name: rank for rank, name in enumerate(INFINITY_VERSIONS)}
_SEGMENT = re.compile(r"(?:(?P<num>[0-9]+)|(?P<str>[a-zA-Z]+))(?P<sep>[_.-]*)")
_VALID = re.compile(r"^[A-Za-z0-9_.-][=A-Za-z0-9_.-]*$")
_PRERELEASE = {"alpha": 0, "beta": 1, "rc": 2, "final": 3}
_FINAL = 3
# a component: (0, 0, word) < (1, number, "") < (2, infinity rank, "")
_TYPEMIN = ((), (0,))
_TYPEMAX = (((2, len(INFINITY_VERSIONS), ""),), (_FINAL,))


class VersionConstraintError(ValueError):
    """A version constraint Spack would refuse (bad characters, an empty range ``2:1``)."""


def _component(number: str, word: str) -> tuple:
    if number:
        return (1, int(number), "")
    if word in _INFINITY_RANK:
        return (2, _INFINITY_RANK[word], "")
    return (0, 0, word)


@lru_cache(maxsize=65536)
def _parse(version: str) -> tuple:
    """Spack's comparison tuple of one version: ``(release components, pre-release)``.

    Raises:
        VersionConstraintError: characters Spack does not allow in a version.
    """
    version = version.strip()
    if version and not _VALID.match(version):
        raise VersionConstraintError(f"bad characters in version {version!r}")
    segments = _SEGMENT.findall(version)
    if len(segments) >= 3 and segments[-2][1] in _PRERELEASE and segments[-1][0]:
        prerelease = (_PRERELEASE[segments[-2][1]], int(segments[-1][0]))
        segments = segments[:-2]
    elif len(segments) >= 2 and segments[-1][1] in _PRERELEASE:
        prerelease = (_PRERELEASE[segments[-1][1]],)
        segments = segments[:-1]
    else:
        prerelease = (_FINAL,)
    return tuple(_component(n, w) for n, w, _ in segments), prerelease


def _next_word(word: str) -> str:
    while True:  # the next string of A-Z and a-z letters that is not an infinity version
        word = word + "A" if not word or word[-1] == "z" else word[:-1] + ("a" if word[-1] == "Z" else chr(ord(word[-1]) + 1))
        if word not in _INFINITY_RANK:
            return word


def _next(parsed: tuple) -> tuple:
    """The smallest version above every version that ``parsed`` is a prefix of
    (Spack's ``_next_version``): the open end of the range ``v:v``."""
    release, prerelease = parsed
    if prerelease[0] != _FINAL:
        return release, (prerelease[0], prerelease[1] + 1 if len(prerelease) > 1 else 0)
    if not release:
        return ((0, 0, "A"),), prerelease
    kind, number, word = release[-1]
    last = (0, 0, _next_word(word)) if kind == 0 else (kind, number + 1, "")
    return release[:-1] + (last,), prerelease


@lru_cache(maxsize=4096)
def _constraint(constraint: str) -> tuple:
    """A constraint as ``((low, high_exclusive) ...)`` ranges in comparison tuples."""
    out = []
    for part in constraint.replace(" ", "").split(","):
        if ":" in part:
            if part.count(":") > 1:
                raise VersionConstraintError(f"bad version range {part!r}")
            low, high = part.split(":")
            lo = _TYPEMIN if low == "" else _parse(low)
            hi = _TYPEMAX if high == "" else _next(_parse(high))
            if hi < lo:
                raise VersionConstraintError(f"{part} is an empty range")
            out.append((lo, hi))
        elif part.startswith("="):
            exact = _parse(part[1:])
            out.append((exact, None))
        elif part:
            v = _parse(part)
            out.append((v, _next(v)))
        else:
            raise VersionConstraintError(f"empty version in {constraint!r}")
    return tuple(out)


def version_satisfies(version: str, constraint: str) -> bool:
    """Whether the concrete ``version`` satisfies Spack's ``@constraint``, as
    ``Version(version).satisfies(ver(constraint))`` answers: ``1.14`` is the range
    1.14:1.14, which holds 1.14 and every version it is a prefix of (1.14.2, 1.14a);
    ``=1.14`` only versions equal to 1.14 (``1.014`` is equal, ``1.14.0`` is not);
    ``a:b`` from a to b and everything b is a prefix of, either end open; ``a,b`` either.

    Raises:
        VersionConstraintError: a constraint Spack refuses (bad characters, ``2:1``).
    """
    v = _parse(str(version).split(",", 1)[0])
    for low, high in _constraint(constraint):
        if (v == low) if high is None else (low <= v < high):
            return True
    return False


@lru_cache(maxsize=65536)
def version_key(version: str) -> tuple:
    """Sort key giving Spack's version order (ascending: oldest first).

    Args:
        version: a version as the pages write it (``"1.14.5"``, ``"develop"``,
            ``"2.26-t9b_atlas"``); a list of versions joined by ``", "`` sorts
            by its first version.  Any string is accepted; one Spack would refuse
            (bad characters) sorts below every version.

    Returns:
        A tuple comparable with the key of any other version; versions Spack
        holds equal (``2023.02``, ``2023.2``) differ only in the last item, the text.
    """
    first = str(version).split(",", 1)[0].strip()
    try:
        release, prerelease = _parse(first)
    except VersionConstraintError:
        release, prerelease = ((-1, 0, first),), (_FINAL,)
    return (release, prerelease, first)


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


# --- how Spack prints a spec's flags and variants ------------------------------------

#: Compiler flags Spack keeps in ``parameters``: shown only when not empty.
FLAG_NAMES = frozenset({"cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs"})

_NO_QUOTES_NEEDED = re.compile(r"^[a-zA-Z0-9,/_.\-\[\]]+$")


def quote_if_needed(value: str) -> str:
    """A variant or flag value as Spack writes it in a spec string
    (``spack.spec_parser.quote_if_needed``): bare when it holds only letters, digits and
    ``,/_.-[]``; else in single quotes, or JSON double quotes when it holds a ``'``."""
    if _NO_QUOTES_NEEDED.match(value):
        return value
    return json.dumps(value) if "'" in value else f"'{value}'"


def render_variants(parameters: dict) -> str:
    """A spec's ``parameters`` as Spack's ``Spec.format`` prints its compiler flags and
    variants (``{compiler_flags}{variants}``): flags first (``cflags='-O3 -g'``, only when
    not empty), then the boolean variants run together (``+shared~pic``), then the
    others, each name-sorted: ``cflags=-O3 +shared~pic build_system=cmake
    patches:=0f6940d,3e6448a``.

    Lists (multi-valued variants) print as ``name:=a,b`` with their values sorted
    (``patches`` shortened to 7 characters each), other values as ``name=value``; values
    are quoted as Spack quotes them (:func:`quote_if_needed`).  ``True``/``False`` and the
    strings ``"true"``/``"false"`` (any case) are boolean, as Spack reads them.
    """
    flags, bools, others = [], [], []
    for name in sorted(parameters):
        value = parameters[name]
        if name in FLAG_NAMES:
            values = value if isinstance(value, list) else [value] if value else []
            if values:
                flags.append(f"{name}={quote_if_needed(' '.join(map(str, values)))}")
        elif isinstance(value, list):
            values = sorted({str(v) for v in value})
            values = [v[:7] for v in values] if name == "patches" else values
            others.append(f"{name}:={quote_if_needed(','.join(values))}")
        elif value is None:
            continue
        elif str(value).upper() in ("TRUE", "FALSE"):
            bools.append(f"{'+' if str(value).upper() == 'TRUE' else '~'}{name}")
        else:
            others.append(f"{name}={quote_if_needed(str(value))}")
    return " ".join([*flags, *(["".join(bools)] if bools else []), *others])
