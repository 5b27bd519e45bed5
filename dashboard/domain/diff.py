"""What changed between two tags (or two stacks), and how tags follow each other.
Pure pandas, no Panel.

A spec is identified by its hash.  Between an old side A and a new side B:

* packages added / removed: package names only in B / only in A;
* specs changed: a spec gone from A and a spec new in B with the same
  *configuration* (package, variants, compiler, OS, target) - the same build,
  rebuilt with a new version or a new hash (a dependency changed);
* specs added / removed: the other new / gone specs.

Tags are placed on one time line (:func:`tag_order`): releases (``v0.22.1``,
``v2025.07.0``) by version, then snapshots by the date in their name
(``develop-2025-03-30``), then the moving ``develop``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from dashboard.domain.match import spec_variants
from dashboard.core.spack import version_key
from dashboard.core.terms import ROOT_STACK

#: The fields that make two specs "the same build" (one changed, not one added + one removed).
CONFIGURATION = ["package", "variants", "compiler", "os", "target"]
#: Columns of :attr:`Diff.rows`.
DIFF_COLUMNS = ["change", "package", "version_a", "version_b", "hash_a", "hash_b", "compiler", "os", "target", "variants", "stacks"]
_DATED = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_RELEASE = re.compile(r"^v?\d+(\.\d+)*$")


@dataclass
class Diff:
    """The difference from side A to side B.

    Attributes:
        counts: ``{"packages added": n, "packages removed": n, "specs added": n,
            "specs removed": n, "specs changed": n}`` (this order).
        rows: one row per added, removed or changed spec, with
            :data:`DIFF_COLUMNS` (``change`` is ``"added"``, ``"removed"`` or
            ``"changed"``; ``version_a``/``hash_a`` empty for added specs,
            ``_b`` empty for removed ones; ``stacks`` of the newer side).
        by_stack: per stack: ``stack``, ``added``, ``removed``, ``changed`` (int);
            ``root`` first, then by number of changes (most first).
        packages_added, packages_removed: the names, sorted.
    """

    counts: dict
    rows: pd.DataFrame
    by_stack: pd.DataFrame
    packages_added: list[str]
    packages_removed: list[str]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["hash", "version", "stacks", *CONFIGURATION]
    return frame[cols].astype(str).drop_duplicates("hash")


def _variant_key(text: str) -> str:
    """A variant string as one spelling of its values: ``a=b`` (older pages) and
    ``a:=b`` (newer pages, mirrors), ``+x ~y`` and ``+x~y`` are the same configuration."""
    return " ".join(f"{k}={v}" for k, v in sorted(spec_variants(text).items()))


def _joined(frame: pd.DataFrame, columns) -> pd.Series:
    """Each row's ``columns`` (text) joined by NUL: one configuration key per row.
    (``DataFrame.agg(str.join, axis=1)`` gave wrong keys under pandas 2.2.)"""
    first, *rest = columns
    return frame[first].astype(str).str.cat([frame[c].astype(str) for c in rest], sep="\x00")


def diff(a: pd.DataFrame, b: pd.DataFrame) -> Diff:
    """Compare spec rows ``a`` (old) with ``b`` (new).

    Args:
        a, b: spec rows (columns of :attr:`dashboard.model.CacheData.specs`), e.g.
            one tag's each, or one stack's each.

    Returns:
        A :class:`Diff` (see the module docstring for the rules).  Changed
        pairs are matched per configuration in version order: the k-th gone
        spec with the k-th new one.
    """
    a, b = _plain(a), _plain(b)
    gone = a[~a["hash"].isin(b["hash"])]
    new = b[~b["hash"].isin(a["hash"])]
    def numbered(frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with its configuration key and its rank within it (by version)."""
        # versions as their rank in Spack's order: integers sort alike in every pandas
        # (a column of key tuples does not: pandas 2.2 sorted it out of key order)
        rank = {v: i for i, v in enumerate(sorted(set(frame["version"]), key=version_key))}
        variants = {v: _variant_key(v) for v in set(frame["variants"])}
        frame = frame.assign(
            _key=_joined(frame.assign(variants=frame["variants"].map(variants)), CONFIGURATION) if len(frame) else pd.Series(dtype=str),
            _vkey=frame["version"].map(rank).astype("int64") if len(frame) else pd.Series(dtype="int64"),
        ).sort_values(["_key", "_vkey", "hash"], kind="stable")
        return frame.assign(_n=frame.groupby("_key").cumcount() if len(frame) else pd.Series(dtype=int))

    gone, new = numbered(gone), numbered(new)
    pairs = gone.merge(new, on=["_key", "_n"], suffixes=("_a", "_b"))
    changed_a, changed_b = set(pairs["hash_a"]), set(pairs["hash_b"])
    added = new[~new["hash"].isin(changed_b)]
    removed = gone[~gone["hash"].isin(changed_a)]

    def rows(frame, change, side):
        other = "a" if side == "b" else "b"
        return pd.DataFrame({
            "change": change, "package": frame["package"], f"version_{side}": frame["version"], f"version_{other}": "",
            f"hash_{side}": frame["hash"], f"hash_{other}": "", **{c: frame[c] for c in ("compiler", "os", "target", "variants", "stacks")},
        })

    changed_rows = pd.DataFrame({
        "change": "changed", "package": pairs["package_b"], "version_a": pairs["version_a"], "version_b": pairs["version_b"],
        "hash_a": pairs["hash_a"], "hash_b": pairs["hash_b"], **{c: pairs[f"{c}_b"] for c in ("compiler", "os", "target", "variants")},
        "stacks": pairs["stacks_b"],
    })
    out = pd.concat([rows(added, "added", "b"), rows(removed, "removed", "a"), changed_rows], ignore_index=True)[DIFF_COLUMNS]
    out = out.sort_values(["package", "change", "version_b", "version_a"], kind="stable").reset_index(drop=True)
    per_stack = out.assign(stack=out["stacks"].str.split(", ")).explode("stack")
    per_stack = per_stack[per_stack["stack"].astype(bool)] if len(per_stack) else per_stack
    if len(per_stack):
        by_stack = (pd.crosstab(per_stack["stack"], per_stack["change"]).reindex(columns=["added", "removed", "changed"], fill_value=0)
                    .astype(int).reset_index().rename_axis(None, axis=1))
    else:
        by_stack = pd.DataFrame({"stack": pd.Series(dtype=str), **{c: pd.Series(dtype=int) for c in ("added", "removed", "changed")}})
    # root (every change) first, then the stacks that changed most
    weight = by_stack[["added", "removed", "changed"]].sum(axis=1) + (by_stack["stack"] == ROOT_STACK) * 10**12
    by_stack = by_stack.loc[weight.sort_values(ascending=False, kind="stable").index].reset_index(drop=True)
    pkgs_a, pkgs_b = set(a["package"]), set(b["package"])
    counts = {
        "packages added": len(pkgs_b - pkgs_a),
        "packages removed": len(pkgs_a - pkgs_b),
        "specs added": len(added),
        "specs removed": len(removed),
        "specs changed": len(pairs),
    }
    return Diff(counts, out, by_stack, sorted(pkgs_b - pkgs_a), sorted(pkgs_a - pkgs_b))


def tag_key(tag: str) -> tuple:
    """Sort key placing tags on one time line (oldest first): a date in the name
    (``develop-2025-03-30``) is that day; a release (``v0.22.1``, ``v2025.07.0``)
    sorts among releases by version, before every dated snapshot; a plain
    ``develop`` (the moving head) is newest; anything else by name, after releases."""
    dated = _DATED.search(tag)
    if dated:
        return (2, tuple(map(int, dated.groups())), tag)
    if tag in ("develop", "main", "latest"):
        return (3, (), tag)
    if _RELEASE.match(tag):
        return (0, version_key(tag.lstrip("v")), tag)
    return (1, (), tag)


def tag_order(tags) -> list[str]:
    """``tags`` oldest first (see :func:`tag_key`)."""
    return sorted(map(str, tags), key=tag_key)


def timeline(specs: pd.DataFrame, spec_stacks: pd.DataFrame) -> pd.DataFrame:
    """Specs and packages per tag and stack, tags in time order.

    Args:
        specs, spec_stacks: as in :class:`dashboard.model.CacheData`.

    Returns:
        Long DataFrame: ``tag`` (ordered categorical, :func:`tag_order`),
        ``stack`` (``str``), ``specs`` and ``packages`` (``int``).
    """
    spec_ids = spec_stacks["spec"].to_numpy()
    long = pd.DataFrame({
        "tag": specs["tag"].astype(str).to_numpy()[spec_ids],
        "stack": spec_stacks["stack"].astype(str).to_numpy(),
        "package": specs["package"].astype(str).to_numpy()[spec_ids],
    })
    out = long.groupby(["tag", "stack"]).agg(specs=("package", "size"), packages=("package", "nunique")).reset_index()
    out["tag"] = pd.Categorical(out["tag"], categories=tag_order(out["tag"].unique()), ordered=True)
    return out.sort_values(["tag", "stack"]).reset_index(drop=True)


def package_versions(specs: pd.DataFrame, package: str) -> pd.DataFrame:
    """One package's versions over time: ``tag`` (in time order), ``version``,
    ``specs`` (int) - one row per tag and version present."""
    rows = specs.loc[specs["package"].astype(str) == package, ["tag", "version"]].astype(str)
    out = rows.value_counts().rename("specs").reset_index()
    out["tag"] = pd.Categorical(out["tag"], categories=tag_order(out["tag"].unique()), ordered=True)
    out["_v"] = out["version"].map(version_key)
    return out.sort_values(["tag", "_v"]).drop(columns="_v").reset_index(drop=True)

