"""How do I use it?  The Spack commands that install a cached binary.  Pure Python/pandas.

For a mirror source the URLs are the mirrors that were read; for cache.spack.io
pages they follow binaries.spack.io's layout: ``https://binaries.spack.io/<tag>``
is a tag's ``root`` mirror, ``https://binaries.spack.io/<tag>/<stack>`` one of
its stack mirrors.
"""

from __future__ import annotations

import re
import shlex

import pandas as pd

from dashboard.core.terms import ROOT_STACK

#: Where cache.spack.io's binaries live (its pages name no URL).
BINARIES_URL = "https://binaries.spack.io"


def mirror_url(mirrors: pd.DataFrame, tag: str, stack: str) -> str:
    """The URL of ``tag``'s ``stack`` mirror: from ``mirrors`` (``tag``, ``stack``,
    ``url``; a mirror source's :attr:`dashboard.model.CacheData.mirrors`) when it
    lists it, else binaries.spack.io's layout."""
    if len(mirrors):
        hit = mirrors[(mirrors["tag"] == tag) & (mirrors["stack"] == stack)]
        if len(hit):
            return str(hit["url"].iloc[0])
    return f"{BINARIES_URL}/{tag}" if stack == ROOT_STACK else f"{BINARIES_URL}/{tag}/{stack}"


def mirror_name(tag: str, stack: str) -> str:
    """A name for ``spack mirror add``: ``<stack>-<tag>`` (``<tag>`` for root), letters,
    digits and ``_.-`` only, never starting with ``-`` (it would be read as an option)."""
    name = tag if stack == ROOT_STACK else f"{stack}-{tag}"
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", name)
    return name if name[:1].isalnum() else f"m{name}"


#: A Spack DAG hash: 32 characters of lower-case base32 (``spack.util.hash.b32_hash``).
DAG_HASH = re.compile(r"[a-z2-7]{32}")
#: What a mirror URL handed to a shell may not hold even quoted: control characters
#: (a newline ends the command line when pasted).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def best_stack(stacks: str, chosen=()) -> str:
    """The stack to install from: one of ``chosen`` the spec is in, else its first
    named stack, else root.  ``stacks`` is the comma-separated column."""
    names = [s for s in str(stacks).split(", ") if s]
    for stack in chosen:
        if stack in names:
            return stack
    named = [s for s in names if s != ROOT_STACK]
    return named[0] if named else ROOT_STACK


def install_commands(mirrors: pd.DataFrame, tag: str, stacks: str, spec_hash: str, chosen=()) -> tuple[list[str], list[str]]:
    """The commands that install one cached binary, safe to paste into a shell, and
    what is wrong with the row where a command is withheld.

    Returns:
        ``(commands, warnings)``: ``spack mirror add <name> <url>``, ``spack buildcache
        keys --install --trust``, ``spack install --use-buildcache only /<hash>``; the
        URL quoted for POSIX shells where it holds anything but ``\\w@%+=:,./-``
        (:func:`shlex.quote`), the name reduced to safe characters (:func:`mirror_name`).
        A hash that is not a Spack DAG hash (:data:`DAG_HASH`) gets no install command,
        a URL with control characters no ``mirror add``: each says so in ``warnings``.
    """
    stack = best_stack(stacks, chosen)
    url = mirror_url(mirrors, tag, stack)
    commands, warnings = [], []
    if _CONTROL.search(url):
        warnings.append(f"the mirror URL {url!r} holds control characters: no command to add it")
    else:
        if shlex.quote(url) != url:
            warnings.append(f"the mirror URL holds characters a shell reads ({url!r}): it is quoted")
        commands.append(f"spack mirror add {mirror_name(tag, stack)} {shlex.quote(url)}")
    commands.append("spack buildcache keys --install --trust")
    if DAG_HASH.fullmatch(spec_hash):
        commands.append(f"spack install --use-buildcache only /{spec_hash}")
    else:
        warnings.append(f"the hash {spec_hash!r} is not a Spack DAG hash (32 characters a-z, 2-7): no install command")
    return commands, warnings


def dependency_children(dependencies: pd.DataFrame) -> dict[str, list[tuple[str, str, str]]]:
    """``{hash: [(dep_hash, dep_name, deptypes), ...]}`` from the edges ``hash``,
    ``dep_hash``, ``dep_name``, ``deptypes`` (:attr:`dashboard.model.CacheData.dependencies`);
    built once per data set, walked by :func:`dependency_tree`."""
    children: dict[str, list[tuple[str, str, str]]] = {}
    for h, d, n, t in zip(dependencies["hash"].astype(str), dependencies["dep_hash"].astype(str),
                          dependencies["dep_name"].astype(str), dependencies["deptypes"].astype(str)):
        children.setdefault(h, []).append((d, n, t))
    return children


def dependency_tree(children: dict, spec_hash: str, binaries: set[str], max_depth: int = 4, max_nodes: int = 200,
                    externals: set[str] = frozenset()) -> list[tuple]:
    """The dependencies of ``spec_hash``, depth first, as a flat list of
    ``(depth, name, hash, deptypes, status, seen_before)`` (depth 1 = direct;
    ``status``: ``"binary"``, ``"external"`` (Spack never pushes externals) or
    ``"not pushed"`` (in the index, no binary)).

    Args:
        children: from :func:`dependency_children`.
        binaries: hashes that are binaries in the cache.
        externals: hashes of external records (``CacheData.nodes`` with ``external``).
        max_depth, max_nodes: where the walk stops (a dependency met again is
            listed once more with ``seen_before`` true, not expanded).
    """
    out: list[tuple] = []
    seen: set[str] = set()

    def walk(node: str, depth: int) -> None:
        for dep_hash, name, types in sorted(children.get(node, []), key=lambda c: c[1]):
            if len(out) >= max_nodes:
                return
            again = dep_hash in seen
            status = "binary" if dep_hash in binaries else "external" if dep_hash in externals else "not pushed"
            out.append((depth, name, dep_hash, types, status, again))
            seen.add(dep_hash)
            if not again and depth < max_depth:
                walk(dep_hash, depth + 1)

    walk(spec_hash, 1)
    return out
