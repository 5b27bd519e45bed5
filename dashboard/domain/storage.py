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


def read_keep(text: str, where: str) -> tuple[set[str], str]:
    """The hashes to keep from a keep list (:func:`read_keep_list`) or a ``spack.lock``
    (every concrete spec in it: the text starts with ``{``), and what it was, for people.

    Raises:
        KeepListError: a keep list Spack would refuse, or JSON that is no ``spack.lock``
            (``where`` is named).
    """
    if text.lstrip().startswith("{"):
        from dashboard.domain.match import LockFile, MatchInputError, parse_input

        try:
            lock = parse_input(text)
        except MatchInputError as exc:
            raise KeepListError(f"{where}: {exc}") from None
        if not isinstance(lock, LockFile):
            raise KeepListError(f"{where}: JSON, but not a spack.lock")
        return set(lock.specs), f"the {len(lock.specs):,} concrete specs of {where}"
    keep = read_keep_list(text, where)
    return keep, f"{where} ({len(keep):,} hashes)"


def keep_last_tags(specs: pd.DataFrame, n: int) -> tuple[set[str], str]:
    """The hashes of the newest ``n`` tags (:func:`dashboard.domain.diff.tag_order`) and
    which tags they are, for people: pruning every other tag down to them frees what only
    older tags hold.

    Raises:
        ValueError: ``n`` < 1.
    """
    if n < 1:
        raise ValueError(f"keep the last N tags: N must be at least 1, not {n}")
    tags = tag_order(map(str, specs["tag"].unique()))[-n:]
    what = f"the newest {len(tags)} tag{'s' if len(tags) != 1 else ''} ({', '.join(tags)})"
    return set(specs.loc[specs["tag"].isin(tags).to_numpy(), "hash"].astype(str)), what


def _sized(keys: dict, size: np.ndarray) -> pd.DataFrame:
    """``specs``, ``bytes`` (known sizes summed; ``<NA>`` when none is known), ``unknown``
    per distinct row of ``keys`` (``{column: categorical or array}``); ``size`` is a float
    array of bytes (NaN unknown)."""
    frame = pd.DataFrame({**keys, "_b": np.nan_to_num(size), "_u": np.isnan(size)})
    out = frame.groupby(list(keys), observed=True, sort=False).agg(specs=("_b", "size"), bytes=("_b", "sum"), unknown=("_u", "sum")).reset_index()
    out = out.astype({"specs": np.int64, "bytes": "Int64", "unknown": np.int64})
    out.loc[out["unknown"] == out["specs"], "bytes"] = pd.NA
    for name in keys:
        out[name] = out[name].astype(str)
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
    size = specs["size"].to_numpy(dtype="float64", na_value=np.nan)
    by_tag = _sized({"tag": specs["tag"]}, size)
    by_tag = by_tag.set_index("tag").loc[tag_order(by_tag["tag"])].reset_index()
    by_tag["bytes_change"] = by_tag["bytes"].diff().astype("Int64")
    by_tag.loc[by_tag.index[:1], "bytes_change"] = 0 if len(by_tag) and pd.notna(by_tag["bytes"].iloc[0]) else pd.NA
    by_tag["specs_change"] = by_tag["specs"].diff().fillna(0).astype(np.int64)
    by_package = _sized({"package": specs["package"]}, size).sort_values(["bytes", "package"], ascending=[False, True], kind="stable",
                                                                          na_position="last").reset_index(drop=True)
    stacks = data.spec_stacks
    ids = stacks["spec"].to_numpy()
    chosen = mask[ids] if mask is not None else np.ones(len(ids), bool)
    all_sizes = data.specs["size"].to_numpy(dtype="float64", na_value=np.nan)
    by_stack = _sized({"stack": stacks["stack"][chosen]}, all_sizes[ids[chosen]])
    by_stack = by_stack.sort_values(["bytes", "stack"], ascending=[False, True], kind="stable", na_position="last").reset_index(drop=True)
    # one row per (tag, hash): a group of several rows is one build under several hashes
    groups = pd.DataFrame({c: specs[c] for c in DUPLICATE_KEY}).assign(_s=size).groupby(DUPLICATE_KEY, observed=True, sort=False)
    dup = groups["_s"].agg(["size", "sum", "max"]).reset_index()
    dup = dup[dup["size"] > 1].rename(columns={"size": "hashes", "sum": "bytes"})
    dup = dup.assign(bytes=dup["bytes"].fillna(0).astype(np.int64), extra_bytes=(dup["bytes"].fillna(0) - dup["max"].fillna(0)).astype(np.int64))
    dup = dup.drop(columns="max").astype({c: str for c in DUPLICATE_KEY}).astype({"hashes": np.int64})
    dup = dup.sort_values(["extra_bytes", "hashes"], ascending=False, kind="stable").reset_index(drop=True)
    total = {"specs": int(len(specs)), "bytes": int(np.nansum(size)), "unknown": int(np.isnan(size).sum())}
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
    import pyarrow as pa
    import pyarrow.compute as pc

    specs = data.specs
    hashes = pa.array(specs["hash"].astype("str"))
    kept_spec = pc.is_in(hashes, value_set=pa.array(list(keep), pa.string())).to_numpy(zero_copy_only=False)
    ids = data.spec_stacks["spec"].to_numpy()
    gone = ~kept_spec[ids]
    size = specs["size"].to_numpy(dtype="float64", na_value=np.nan)[ids]
    stack = data.spec_stacks["stack"]
    pruned_ids = ids[gone]
    pruned_stacks = stack.array[gone] if len(pruned_ids) else stack.array[:0]
    # in tag, stack, package, version order (the categories' own orders: versions as Spack orders them)
    order = np.lexsort([specs["version"].array.codes[pruned_ids], specs["package"].array.codes[pruned_ids],
                        np.asarray(pruned_stacks.codes), specs["tag"].array.codes[pruned_ids]]) if len(pruned_ids) else []
    pruned_ids = pruned_ids[order] if len(pruned_ids) else pruned_ids
    pruned = pd.DataFrame({
        "tag": specs["tag"].array.take(pruned_ids).astype(str), "stack": pruned_stacks.take(order).astype(str) if len(order) else [],
        "package": specs["package"].array.take(pruned_ids).astype(str), "version": specs["version"].array.take(pruned_ids).astype(str),
        "hash": specs["hash"].array.take(pruned_ids), "size": specs["size"].array.take(pruned_ids),
    })
    per = pd.DataFrame({"tag": specs["tag"].array.take(ids), "stack": stack.array, "_pruned": gone, "_kept": ~gone,
                        "_b": np.where(gone, np.nan_to_num(size), 0.0), "_u": np.isnan(size) & gone})
    by_mirror = per.groupby(["tag", "stack"], observed=True).agg(pruned=("_pruned", "sum"), kept=("_kept", "sum"), bytes=("_b", "sum"),
                                                                 unknown=("_u", "sum")).reset_index()
    by_mirror = by_mirror.astype({"tag": str, "stack": str, **{c: np.int64 for c in ("pruned", "kept", "bytes", "unknown")}})
    by_mirror = by_mirror.sort_values(["bytes", "tag", "stack"], ascending=[False, True, True], kind="stable").reset_index(drop=True)
    known = ~np.isnan(size) & gone
    present = set(pc.filter(hashes, pa.array(kept_spec)).to_pylist()) if kept_spec.any() else set()
    return PrunePlan(pruned, int((~gone).sum()), int(size[known].sum()), int((np.isnan(size) & gone).sum()), by_mirror, keep - present)
