"""What a build cache costs: bytes per tag, stack and package, duplicates, growth across
tags, and what pruning with a keep list would free.  Pure pandas, no Panel.

Sizes are the binaries' tarball sizes (bytes) where the source gives them (a page's
``size``, a v3 spec manifest's or an OCI manifest's tarball layer); every figure says
how many binaries are of unknown size.  A binary counts once per tag (``by_tag``,
``by_package``, totals) and once per mirror holding it (``by_stack``: on
cache.spack.io each stack is its own mirror, and ``root`` holds them all).

The prune preview follows Spack's own keep-list pruning (``spack buildcache prune
--keeplist FILE``, ``spack/buildcache_prune.py``): the keep list is one DAG hash a line
(a leading ``/`` and spaces around allowed; any other line, a blank one included, is an
error, and so is a list without hashes); every binary of a mirror whose hash is not in it
is pruned - its dependencies are *not* kept unless listed too; the blobs only pruned
binaries used (their tarballs) are then removed as orphans.  Nothing is ever deleted here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.domain.diff import tag_order

#: Fields that make two binaries of one tag the same build (a *duplicate* when their hashes differ).
DUPLICATE_KEY = ["tag", "package", "version", "variants", "compiler", "os", "target"]


class KeepListError(ValueError):
    """A keep list Spack would refuse (the message names the file and the line)."""


def read_keep_list(text: str, where: str) -> set[str]:
    """The hashes of a keep list, read as ``spack buildcache prune --keeplist`` reads it.

    Raises:
        KeepListError: a line that is not a 32-character hash once stripped of spaces
            and a leading ``/`` (a blank line too), or no hash at all; ``where`` (the
            file) and the line are named.
    """
    keep: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        value = line.strip().lstrip("/")
        if len(value) != 32:
            raise KeepListError(f"{where}: line {number} is not a 32-character hash: {line[:80]!r}")
        keep.add(value)
    if not keep:
        raise KeepListError(f"{where}: no hashes found in the keep list")
    return keep


def keep_last_tags(specs: pd.DataFrame, n: int) -> tuple[set[str], list[str]]:
    """The hashes of the newest ``n`` tags (:func:`dashboard.domain.diff.tag_order`) and
    those tags: pruning every other tag down to them frees what only older tags hold.

    Raises:
        ValueError: ``n`` < 1.
    """
    if n < 1:
        raise ValueError(f"keep the last N tags: N must be at least 1, not {n}")
    tags = tag_order(specs["tag"].astype(str).unique())[-n:]
    return set(specs.loc[specs["tag"].astype(str).isin(tags), "hash"].astype(str)), tags


def _sized(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``specs``, ``bytes`` (known sizes summed; ``<NA>`` when none is known), ``unknown`` per ``by``."""
    size = frame["size"].astype("float64")
    out = frame.assign(_b=size.fillna(0), _u=size.isna()).groupby(by, observed=True).agg(
        specs=("_b", "size"), bytes=("_b", "sum"), unknown=("_u", "sum")).reset_index()
    out = out.astype({"specs": np.int64, "bytes": "Int64", "unknown": np.int64})
    out.loc[out["unknown"] == out["specs"], "bytes"] = pd.NA
    return out


@dataclass
class Storage:
    """Bytes of a set of binaries (see the module docstring).

    Attributes:
        total: ``{"specs", "bytes", "unknown"}`` (ints; bytes of the known sizes).
        by_tag: per tag, oldest first: ``tag``, ``specs``, ``bytes`` (``Int64``: ``<NA>``
            when no size is known), ``unknown``, ``bytes_change`` (``Int64``) and
            ``specs_change`` (against the tag before; 0 for the first).
        by_stack: ``stack``, ``specs``, ``bytes`` (``Int64``), ``unknown``, most bytes first (``root``, the
            union mirror of cache.spack.io, included).
        by_package: ``package``, ``specs``, ``bytes`` (``Int64``), ``unknown``, most bytes first.
        duplicates: one row per tag and build held under several hashes:
            :data:`DUPLICATE_KEY` columns, ``hashes`` (int), ``bytes`` (all copies),
            ``extra_bytes`` (all but the largest copy).
    """

    total: dict
    by_tag: pd.DataFrame
    by_stack: pd.DataFrame
    by_package: pd.DataFrame
    duplicates: pd.DataFrame


def storage(data, mask: np.ndarray | None = None) -> Storage:
    """The :class:`Storage` of the binaries of ``data`` (a
    :class:`dashboard.model.CacheData`) selected by ``mask`` (a boolean array over
    ``data.specs``; ``None``: all)."""
    specs = data.specs if mask is None else data.specs[mask]
    spec_ids = np.flatnonzero(mask) if mask is not None else None
    text = specs[["tag", "package"]].astype(str).assign(size=specs["size"])
    by_tag = _sized(text, ["tag"])
    by_tag["tag"] = pd.Categorical(by_tag["tag"], categories=tag_order(by_tag["tag"]), ordered=True)
    by_tag = by_tag.sort_values("tag").reset_index(drop=True)
    by_tag["tag"] = by_tag["tag"].astype(str)
    by_tag["bytes_change"] = by_tag["bytes"].diff().astype("Int64")
    by_tag.loc[by_tag.index[:1], "bytes_change"] = 0 if len(by_tag) and pd.notna(by_tag["bytes"].iloc[0]) else pd.NA
    by_tag["specs_change"] = by_tag["specs"].diff().fillna(0).astype(np.int64)
    by_package = _sized(text, ["package"]).sort_values(["bytes", "package"], ascending=[False, True], kind="stable").reset_index(drop=True)
    stacks = data.spec_stacks
    if spec_ids is not None:
        stacks = stacks[np.isin(stacks["spec"].to_numpy(), spec_ids)]
    copies = pd.DataFrame({"stack": stacks["stack"].astype(str).to_numpy(), "size": data.specs["size"].to_numpy()[stacks["spec"].to_numpy()]})
    by_stack = _sized(copies, ["stack"]).sort_values(["bytes", "stack"], ascending=[False, True], kind="stable").reset_index(drop=True)
    key = specs[DUPLICATE_KEY].astype(str).assign(hash=specs["hash"].astype(str), size=specs["size"].astype("float64"))
    groups = key.groupby(DUPLICATE_KEY, observed=True)
    dup = groups.agg(hashes=("hash", "nunique"), bytes=("size", "sum"), largest=("size", "max")).reset_index()
    dup = dup[dup["hashes"] > 1]
    dup = dup.assign(bytes=dup["bytes"].astype(np.int64), extra_bytes=(dup["bytes"] - dup["largest"].fillna(0)).astype(np.int64))
    dup = dup.drop(columns="largest").sort_values(["extra_bytes", "hashes"], ascending=False, kind="stable").reset_index(drop=True)
    size = specs["size"].astype("float64")
    total = {"specs": int(len(specs)), "bytes": int(size.sum(skipna=True)), "unknown": int(size.isna().sum())}
    return Storage(total, by_tag, by_stack, by_package, dup)


@dataclass
class PrunePlan:
    """What ``spack buildcache prune --keeplist`` would remove (see the module docstring).

    Attributes:
        pruned: one row per binary per mirror pruned: ``tag``, ``stack``, ``package``,
            ``version``, ``hash`` (``str``), ``size`` (``Int64`` bytes).
        kept: binaries (per mirror) that stay.
        bytes: bytes freed (tarballs of known size); ``unknown``: pruned binaries of unknown size.
        by_mirror: ``tag``, ``stack``, ``pruned``, ``kept``, ``bytes``, ``unknown`` per mirror.
        keep_unknown: hashes of the keep list that no binary of the data has.
    """

    pruned: pd.DataFrame
    kept: int
    bytes: int
    unknown: int
    by_mirror: pd.DataFrame
    keep_unknown: set


def prune_preview(data, keep: set[str]) -> PrunePlan:
    """What pruning every mirror of ``data`` (a :class:`dashboard.model.CacheData`) down to
    the hashes ``keep`` would remove, in Spack's semantics (module docstring)."""
    specs = data.specs
    stacks = data.spec_stacks
    ids = stacks["spec"].to_numpy()
    rows = pd.DataFrame({
        "tag": specs["tag"].astype(str).to_numpy()[ids], "stack": stacks["stack"].astype(str).to_numpy(),
        "package": specs["package"].astype(str).to_numpy()[ids], "version": specs["version"].astype(str).to_numpy()[ids],
        "hash": specs["hash"].astype(str).to_numpy()[ids], "size": specs["size"].astype("Int64").to_numpy()[ids],
    })
    gone = ~rows["hash"].isin(keep).to_numpy()
    pruned = rows[gone].sort_values(["tag", "stack", "package", "version", "hash"], kind="stable").reset_index(drop=True)
    size = rows["size"].astype("float64")
    per = rows.assign(_pruned=gone, _kept=~gone, _b=size.where(gone, 0).fillna(0), _u=size.isna() & gone)
    by_mirror = per.groupby(["tag", "stack"], observed=True).agg(pruned=("_pruned", "sum"), kept=("_kept", "sum"), bytes=("_b", "sum"),
                                                                 unknown=("_u", "sum")).reset_index()
    by_mirror = by_mirror.astype({c: np.int64 for c in ("pruned", "kept", "bytes", "unknown")})
    by_mirror = by_mirror.sort_values(["bytes", "tag", "stack"], ascending=[False, True, True], kind="stable").reset_index(drop=True)
    pruned_size = pruned["size"].astype("float64")
    return PrunePlan(pruned, int((~gone).sum()), int(pruned_size.sum(skipna=True)), int(pruned_size.isna().sum()), by_mirror,
                     keep - set(specs["hash"].astype(str)))

