"""Queries over a loaded :class:`~dashboard.load.CacheData`: pure functions, no Panel.

A :class:`Selection` says what the user picked (tags, stacks, OSes, targets,
versions, a package-name search, and optionally one heatmap cell).
:func:`build_index` pre-groups a data set once into integer category codes so
that every query below is a handful of vectorised numpy operations, whatever
the number of spec rows; :func:`compute` answers everything one selector change
needs (headline numbers, heatmaps, selector options with counts, table rows).

Semantics: within one dimension the selected values are OR-ed, across
dimensions AND-ed; an empty selection means "all".  A spec matches a stack
filter when it is in *any* selected stack.

One module (over 400 lines) because every function here reads the same
:class:`SpecIndex` layout (codes, stack sets, memo): split, that layout would be
spread over several files.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd

from dashboard.model import CacheData
from dashboard.core import compat
from dashboard.core.terms import DIMENSIONS, LABELS, NUMBER_COLUMNS, ROOT_STACK, STACKS_LABEL, TABLE_COLUMNS, table_columns  # noqa: F401  (the query's vocabulary)


@dataclass(frozen=True)
class Selection:
    """What is selected.  Empty tuples mean "no filter" on that dimension.

    Attributes:
        tag, stack, os, target, version: selected values (OR within a dimension).
        package: case-insensitive substring of the package name ("" = all).
        cell: ``(package, stack)`` of a clicked heatmap cell, or ``None``.
        host: only binaries that run on this host (``spack arch`` output such
            as ``linux-ubuntu22.04-zen3``, or a target name; see
            :mod:`dashboard.core.compat`); ``""`` = no filter.  A host that cannot
            be read filters nothing (the caller reports it).
        columns: the spec table's header filters, ``((column, text), ...)``: specs
            whose table cell in ``column`` (a text column of
            :func:`~dashboard.core.terms.table_columns`) contains ``text``, case
            ignored (the table's own "like" filter); blank texts and unknown columns
            filter nothing.
    """

    tag: tuple[str, ...] = ()
    stack: tuple[str, ...] = ()
    os: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    version: tuple[str, ...] = ()
    package: str = ""
    cell: tuple[str, str] | None = None
    host: str = ""
    columns: tuple[tuple[str, str], ...] = ()

    def values(self, dim: str) -> tuple[str, ...]:
        """Selected values of one of :data:`DIMENSIONS`."""
        return getattr(self, dim)

    def without(self, *dims: str) -> "Selection":
        """A copy with the given dimensions (or ``"package"``/``"cell"``/``"host"``/``"columns"``) cleared."""
        return replace(self, **{d: ("" if d in ("package", "host") else None if d == "cell" else ()) for d in dims})

    def column_filters(self) -> tuple[tuple[str, str], ...]:
        """:attr:`columns` as matched: blank texts dropped, text lower-cased and
        stripped, one text per column (the last), sorted by column."""
        out = {}
        for column, text in self.columns:
            if str(text).strip():
                out[str(column)] = str(text).strip().lower()
        return tuple(sorted(out.items()))


@dataclass
class SpecIndex:
    """Integer-coded view of one data set, built once by :func:`build_index`.

    Attributes:
        data: the data set it indexes.
        codes: dimension/``package`` -> ``int`` category codes, one per spec row.
        categories: dimension/``package`` -> ``numpy`` array of category labels.
        package_lower: lower-cased package names (for search).
        stackset: ``int32`` id of the spec's set of stacks, per spec row (a spec is
            in ``root`` and a few named stacks: a data set has a few hundred such
            sets, so stacks are counted per set, never per spec x stack row).
        stackset_members: ``bool`` matrix ``[stack set, stack]``.
        tag_stackset: ``int32`` ``tag * n_stacksets + stackset`` per spec row.
        os_target: ``int32`` ``os * n_targets + target`` per spec row.
        page: ``int32`` page id per spec row.
        size: ``float64`` size per spec row in bytes (``nan`` where unknown).
        sized: ``bool`` per spec row, its size known; ``None`` when no size is known
            (pages write "-"; mirrors loaded without sizes): nothing sums bytes then.
        n: number of spec rows.
        version_pair: ``int64`` id of the spec's (version, package) pair, per
            spec row; ``pair_version``/``pair_package`` give each pair's codes,
            sorted by version then package (names the packages of a version).
        table_order: spec ids in the spec table's order: package (by name),
            then version newest first (Spack's order), then tag.
        table: the spec rows in that order, :func:`~dashboard.core.terms.table_columns`, index = spec id
            (see :func:`table_rows`; one copy shared by every session).
        host_masks: host text -> ``bool`` array of the specs that run there
            (filled by :func:`host_mask`, at most 65 hosts).
        memo: :class:`Counts` and heatmap frames of recent selections (at most
            :data:`MEMO_SIZE`), shared by every session showing the data set.
    """

    data: CacheData
    codes: dict[str, np.ndarray]
    categories: dict[str, np.ndarray]
    package_lower: np.ndarray
    stackset: np.ndarray
    stackset_members: np.ndarray
    tag_stackset: np.ndarray
    os_target: np.ndarray
    page: np.ndarray
    size: np.ndarray
    sized: np.ndarray | None
    n: int
    version_pair: np.ndarray
    pair_version: np.ndarray
    pair_package: np.ndarray
    table_order: np.ndarray
    table: pd.DataFrame
    host_masks: dict[str, np.ndarray] = field(default_factory=dict)
    memo: OrderedDict = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)


#: Selections whose counts an index keeps (least recently used dropped first).
MEMO_SIZE = 128


def _stacksets(spec: np.ndarray, stack: np.ndarray, n: int, n_stack: int) -> tuple[np.ndarray, np.ndarray]:
    """(stack set id per spec, ``bool`` members ``[set, stack]``) from the spec x stack
    rows ``spec``/``stack`` (codes; each pair once)."""
    words = max((n_stack + 63) // 64, 1)
    bits = np.zeros((n, words), dtype=np.uint64)
    order = np.argsort(spec, kind="stable")
    spec, stack = spec[order], stack[order].astype(np.uint64)
    for w in range(words):
        in_word = (stack // np.uint64(64)) == np.uint64(w)
        ids, value = spec[in_word], np.left_shift(np.uint64(1), stack[in_word] % np.uint64(64))
        if len(ids):
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            # distinct bits: their sum is their OR
            bits[ids[starts], w] = np.add.reduceat(value, starts)
    if words == 1:
        sets, inverse = np.unique(bits[:, 0], return_inverse=True)
        sets = sets.reshape(-1, 1)
    else:
        sets, inverse = np.unique(bits, axis=0, return_inverse=True)
    codes = np.arange(n_stack, dtype=np.uint64)
    members = ((sets[:, (codes // np.uint64(64)).astype(np.intp)] >> (codes % np.uint64(64))) & np.uint64(1)).astype(bool)
    return inverse.reshape(-1).astype(np.int32), members


def build_index(data: CacheData) -> SpecIndex:
    """Pre-group ``data`` into integer codes for fast queries (O(rows), once)."""
    specs = data.specs
    codes, cats = {}, {}
    for name in ("tag", "os", "target", "version", "package"):
        col = specs[name]
        codes[name] = col.cat.codes.to_numpy()
        cats[name] = np.asarray(col.cat.categories, dtype=object)
    stack = data.spec_stacks["stack"]
    cats["stack"] = np.asarray(stack.cat.categories, dtype=object)
    stackset, members = _stacksets(data.spec_stacks["spec"].to_numpy(), stack.cat.codes.to_numpy(), len(specs), len(cats["stack"]))
    n_sets, n_targets = len(members), len(cats["target"])
    n_pkg = max(len(cats["package"]), 1)
    vp_codes, vp_id = np.unique(codes["version"].astype(np.int64) * n_pkg + codes["package"], return_inverse=True)
    table_order = np.lexsort((codes["tag"], -codes["version"].astype(np.int64), codes["package"]))
    size = specs["size"].to_numpy(dtype="float64", na_value=np.nan)
    sized = ~np.isnan(size)
    return SpecIndex(
        data=data,
        codes=codes,
        categories=cats,
        package_lower=np.asarray([str(p).lower() for p in cats["package"]], dtype=object),
        stackset=stackset,
        stackset_members=members,
        tag_stackset=(codes["tag"].astype(np.int32) * np.int32(n_sets) + stackset).astype(np.int32),
        os_target=(codes["os"].astype(np.int32) * np.int32(n_targets) + codes["target"]).astype(np.int32),
        page=specs["page_id"].to_numpy(dtype=np.int32),
        size=size,
        sized=sized if sized.any() else None,
        n=len(specs),
        version_pair=vp_id.reshape(-1),
        pair_version=vp_codes // n_pkg,
        pair_package=vp_codes % n_pkg,
        table_order=table_order,
        # rows picked from it by a mask are read in order (a take in table order jumps
        # around memory: 10x slower on the text columns at 2M rows)
        table=specs.iloc[table_order, specs.columns.get_indexer(table_columns(specs.columns))],
    )


def index_for(data: CacheData) -> SpecIndex:
    """The :class:`SpecIndex` of ``data``, built on first use and kept in
    ``data.derived``: every session showing the same data shares one index
    (at 2M spec rows it holds ~100 MB of arrays)."""
    index = data.derived.get("index")
    if index is None:
        index = data.derived["index"] = build_index(data)
    return index


def _lookup(categories: np.ndarray, values) -> np.ndarray:
    """Boolean table over category codes, True for the selected values."""
    table = np.zeros(len(categories), dtype=bool)
    wanted = set(values)
    table[[i for i, c in enumerate(categories) if c in wanted]] = True
    return table


def _in(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[codes]``: which rows have a code marked in ``table``.  A few codes are
    compared (a sequential pass), more looked up (a gather: slower per row)."""
    wanted = np.flatnonzero(table)
    if len(wanted) > 4:
        return table[codes]
    out = np.zeros(len(codes), dtype=bool)
    for code in wanted:
        out |= codes == code
    return out


def _stack_mask(index: SpecIndex, stacks) -> np.ndarray:
    """Specs in any of ``stacks``."""
    return _in(index.stackset, index.stackset_members[:, _lookup(index.categories["stack"], stacks)].any(axis=1))


def dimension_masks(index: SpecIndex, sel: Selection) -> dict[str, np.ndarray]:
    """One boolean spec mask per active filter of ``sel`` (keys: dimensions,
    ``"package"``, ``"cell"``, ``"host"``); inactive filters are absent."""
    masks = {}
    for dim in DIMENSIONS:
        values = sel.values(dim)
        if not values:
            continue
        if dim == "stack":
            masks[dim] = _stack_mask(index, values)
        else:
            masks[dim] = _in(index.codes[dim], _lookup(index.categories[dim], values))
    if sel.package.strip():
        needle = sel.package.strip().lower()
        hit = np.fromiter((needle in p for p in index.package_lower), dtype=bool, count=len(index.package_lower))
        masks["package"] = _in(index.codes["package"], hit)
    if sel.cell is not None:
        package, stack = sel.cell
        masks["cell"] = _in(index.codes["package"], _lookup(index.categories["package"], [package])) & _stack_mask(index, [stack])
    if sel.host.strip():
        host = host_mask(index, sel.host)
        if host is not None:
            masks["host"] = host
    columns = [column_mask(index, column, text) for column, text in sel.column_filters()]
    columns = [m for m in columns if m is not None]
    if columns:
        masks["columns"] = np.logical_and.reduce(columns) if len(columns) > 1 else columns[0]
    return masks


def text_columns(index: SpecIndex) -> list[str]:
    """The spec table's text columns (not :data:`NUMBER_COLUMNS`): those a header filter
    (:attr:`Selection.columns`) may name."""
    return [c for c in index.table.columns if c not in NUMBER_COLUMNS]


def column_mask(index: SpecIndex, column: str, text: str) -> np.ndarray | None:
    """``bool`` array over spec rows: the spec's cell in the table column ``column``
    contains ``text`` (case ignored, no pattern characters), as the table's "like"
    header filter matches; ``None`` for a column the table has not or one of numbers.
    A categorical column is matched on its categories (once per distinct value);
    the masks are kept in the index's memo (shared by sessions)."""
    if column not in text_columns(index):
        return None
    needle = text.strip().lower()

    def make() -> np.ndarray:
        values = index.table[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            hit = np.asarray(values.cat.categories.astype(str).str.lower().str.contains(needle, regex=False), dtype=bool)
            codes = values.cat.codes.to_numpy()
            rows = np.where(codes >= 0, hit[codes] if len(hit) else False, False)
        else:
            rows = values.astype("string").str.lower().str.contains(needle, regex=False).fillna(False).to_numpy(dtype=bool)
        out = np.zeros(index.n, dtype=bool)
        out[index.table.index.to_numpy()] = rows
        return out

    return _memo(index, ("column", column, needle), make)


def host_mask(index: SpecIndex, host: str) -> np.ndarray | None:
    """Specs that run on ``host`` (see :func:`dashboard.core.compat.runs_mask`), kept per
    host text on the index (shared by sessions); ``None`` if ``host`` cannot be read."""
    text = host.strip()
    if text not in index.host_masks:
        try:
            parsed = compat.parse_host(text)
        except ValueError:
            return None
        if len(index.host_masks) > 64:  # a bounded memo: hosts typed by many users
            index.host_masks.clear()
        index.host_masks[text] = compat.runs_mask(index.data.specs, parsed)
    return index.host_masks[text]


def combine(masks: dict[str, np.ndarray], n: int, exclude: tuple[str, ...] = ()) -> np.ndarray:
    """AND of ``masks`` except the ``exclude`` keys (all True when none apply)."""
    out = np.ones(n, dtype=bool)
    for key, mask in masks.items():
        if key not in exclude:
            out &= mask
    return out


def spec_mask(index: SpecIndex, sel: Selection) -> np.ndarray:
    """Boolean array over spec rows: True where the spec matches ``sel``."""
    return combine(dimension_masks(index, sel), index.n)


@dataclass(frozen=True)
class Counts:
    """Spec counts of one set of specs, per category code: everything the numbers,
    heatmaps and selector options need but the top packages' stacks.

    Attributes:
        specs: number of specs.
        tag_stackset: ``int64`` ``[tag, stack set]`` spec counts.
        os_target: ``int64`` ``[os, target]`` spec counts.
        pairs: ``int64`` spec count per (version, package) pair (see
            :attr:`SpecIndex.version_pair`).
        pages: distinct pages (tag x package) holding a spec.
        bytes: sum of the known sizes.
        tag_stackset_bytes, os_target_bytes: ``float64`` bytes of the known sizes in
            the same cells as ``tag_stackset`` and ``os_target``; ``None`` when the index
            knows no size (:attr:`SpecIndex.sized`).
        tag_stackset_sized, os_target_sized: ``int64`` specs of known size in those
            cells (``None`` likewise).
    """

    specs: int
    tag_stackset: np.ndarray
    os_target: np.ndarray
    pairs: np.ndarray
    pages: int
    bytes: int
    tag_stackset_bytes: np.ndarray | None = None
    tag_stackset_sized: np.ndarray | None = None
    os_target_bytes: np.ndarray | None = None
    os_target_sized: np.ndarray | None = None

    def bytes_per(self, index: SpecIndex, dim: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(bytes, specs of known size)`` per category code of ``dim`` (``tag`` or
        ``stack``; a spec counts in each of its stacks); ``None`` when no size is known."""
        if self.tag_stackset_bytes is None:
            return None
        if dim == "tag":
            return self.tag_stackset_bytes.sum(axis=1), self.tag_stackset_sized.sum(axis=1)
        members = index.stackset_members.astype(np.int64)
        return self.tag_stackset_bytes.sum(axis=0) @ members, self.tag_stackset_sized.sum(axis=0) @ members

    def per(self, index: SpecIndex, dim: str) -> np.ndarray:
        """``int64`` spec counts per category code of ``dim`` (a dimension or ``"package"``);
        for ``stack``, specs in each stack (a spec counts in each of its stacks)."""
        if dim == "tag":
            return self.tag_stackset.sum(axis=1)
        if dim == "stack":
            return self.tag_stackset.sum(axis=0) @ index.stackset_members.astype(np.int64)
        if dim in ("os", "target"):
            return self.os_target.sum(axis=1 if dim == "os" else 0)
        by = index.pair_version if dim == "version" else index.pair_package
        return np.bincount(by, weights=self.pairs, minlength=len(index.categories[dim])).astype(np.int64)


def count(index: SpecIndex, mask: np.ndarray | None) -> Counts:
    """:class:`Counts` of the specs under ``mask`` (``None``: every spec): one pass over
    the selected rows per array counted."""
    ids = None if mask is None or mask.all() else np.flatnonzero(mask)

    def rows(values: np.ndarray) -> np.ndarray:
        return values if ids is None else values[ids]

    n_tag, n_sets = len(index.categories["tag"]), len(index.stackset_members)
    n_os, n_target = len(index.categories["os"]), len(index.categories["target"])
    sizes = rows(index.size)
    cells = {}
    if index.sized is not None:  # bytes and specs of known size per cell: 4 more passes
        weights, known = np.nan_to_num(sizes), rows(index.sized).astype(np.int64)
        for name, codes, shape in (("tag_stackset", rows(index.tag_stackset), (n_tag, n_sets)),
                                   ("os_target", rows(index.os_target), (n_os, n_target))):
            length = shape[0] * shape[1]
            cells[f"{name}_bytes"] = np.bincount(codes, weights=weights, minlength=length).reshape(shape)
            cells[f"{name}_sized"] = np.bincount(codes, weights=known, minlength=length).astype(np.int64).reshape(shape)
    return Counts(
        specs=index.n if ids is None else len(ids),
        tag_stackset=np.bincount(rows(index.tag_stackset), minlength=n_tag * n_sets).reshape(n_tag, n_sets),
        os_target=np.bincount(rows(index.os_target), minlength=n_os * n_target).reshape(n_os, n_target),
        pairs=np.bincount(rows(index.version_pair), minlength=len(index.pair_version)),
        pages=int(np.count_nonzero(np.bincount(rows(index.page), minlength=1))),
        bytes=int(np.nansum(sizes)) if len(sizes) else 0,
        **cells,
    )


def _key(sel: Selection, *drop: str) -> tuple:
    """``sel`` without ``drop`` as a memo key: values sorted, search text as matched."""
    sel = sel.without(*drop) if drop else sel
    return (
        *(tuple(sorted(set(sel.values(dim)))) for dim in DIMENSIONS),
        sel.package.strip().lower(), sel.cell, sel.host.strip(), sel.column_filters(),
    )


def _memo(index: SpecIndex, key: tuple, make):
    """``index.memo[key]``, made by ``make()`` when missing (least recently used dropped)."""
    with index.lock:
        if key in index.memo:
            index.memo.move_to_end(key)
            return index.memo[key]
    value = make()
    with index.lock:
        index.memo[key] = value
        while len(index.memo) > MEMO_SIZE:
            index.memo.popitem(last=False)
    return value


def counts_of(index: SpecIndex, sel: Selection, masks: dict[str, np.ndarray], *drop: str) -> Counts:
    """:class:`Counts` of ``sel`` without the filters ``drop`` (dimension names,
    ``"cell"``...), from ``masks`` (:func:`dimension_masks` of ``sel``); kept in the
    index's memo, so a selection's counts are computed once for every session."""
    active = [k for k in masks if k not in drop]
    return _memo(index, ("counts", *_key(sel, *drop)), lambda: count(index, combine(masks, index.n, drop) if active else None))


def _long(matrix: np.ndarray, rows: np.ndarray, cols: np.ndarray, names: tuple[str, str],
          nbytes: np.ndarray | None = None, sized: np.ndarray | None = None) -> pd.DataFrame:
    """Non-zero cells of ``matrix`` (spec counts) as a long frame; with ``nbytes`` and
    ``sized`` (same shape) also each cell's ``bytes`` and ``sized``."""
    r, c = np.nonzero(matrix)
    frame = {names[0]: rows[r], names[1]: cols[c], "count": matrix[r, c].astype(np.int64)}
    if nbytes is not None:
        frame.update(bytes=nbytes[r, c].astype(np.float64), sized=sized[r, c].astype(np.int64))
    return pd.DataFrame(frame)


def _stack_columns(index: SpecIndex, per_set: np.ndarray, stacks=()) -> tuple[np.ndarray, np.ndarray]:
    """``[*, stack]`` counts from ``[*, stack set]`` counts, restricted to ``stacks`` when
    given; returns (matrix, stack labels)."""
    matrix = per_set @ index.stackset_members.astype(np.int64)
    labels = index.categories["stack"]
    if stacks:
        keep = _lookup(labels, stacks)
        matrix = np.where(keep, matrix, 0)
    return matrix, labels


def package_stack_counts(index: SpecIndex, mask: np.ndarray, stacks=(), top_n: int = 40, counts: Counts | None = None) -> pd.DataFrame:
    """Spec counts per package x stack for the ``top_n`` packages by spec count.

    Args:
        mask: specs to count (from :func:`spec_mask`).
        stacks: restrict the stack axis to these (empty: all stacks).
        top_n: keep this many packages, most specs first (ties by name).
        counts: :func:`count` of ``mask`` if already known.

    Returns:
        Long DataFrame ``package`` (str), ``stack`` (str), ``count`` (int64, specs), only
        non-zero cells; rows ordered by package rank then stack.  When the index knows
        sizes (:attr:`SpecIndex.sized`), also ``bytes`` (float64, sum of the known sizes)
        and ``sized`` (int64, specs of known size) per cell.
    """
    counts = counts if counts is not None else count(index, mask)
    per_package = counts.per(index, "package")
    order = np.lexsort((np.arange(len(per_package)), -per_package))
    order = order[per_package[order] > 0][: max(int(top_n), 1)]
    rank = np.full(len(per_package), -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    ids = np.flatnonzero(mask & (rank >= 0)[index.codes["package"]])
    n_sets = len(index.stackset_members)
    cell = rank[index.codes["package"][ids]] * n_sets + index.stackset[ids]
    shape = (len(order), n_sets)
    per_set = np.bincount(cell, minlength=shape[0] * n_sets).reshape(shape)
    matrix, labels = _stack_columns(index, per_set, stacks)
    sizes = {}
    if index.sized is not None:
        nbytes = np.bincount(cell, weights=np.nan_to_num(index.size[ids]), minlength=shape[0] * n_sets).reshape(shape)
        sized = np.bincount(cell, weights=index.sized[ids].astype(np.int64), minlength=shape[0] * n_sets).reshape(shape)
        sizes = {"nbytes": _stack_columns(index, nbytes, stacks)[0], "sized": _stack_columns(index, sized, stacks)[0]}
    return _long(matrix, index.categories["package"][order], labels, ("package", "stack"), **sizes)


def os_target_counts(index: SpecIndex, mask: np.ndarray, counts: Counts | None = None) -> pd.DataFrame:
    """Spec counts per OS x target: long DataFrame ``os``, ``target``, ``count`` (non-zero
    cells), with ``bytes`` and ``sized`` as :func:`package_stack_counts`."""
    counts = counts if counts is not None else count(index, mask)
    return _long(counts.os_target, index.categories["os"], index.categories["target"], ("os", "target"),
                 counts.os_target_bytes, counts.os_target_sized)


def stack_tag_counts(index: SpecIndex, mask: np.ndarray, stacks=(), counts: Counts | None = None) -> pd.DataFrame:
    """Spec counts per stack x tag: long DataFrame ``stack``, ``tag``, ``count`` (non-zero
    cells), with ``bytes`` and ``sized`` as :func:`package_stack_counts`."""
    counts = counts if counts is not None else count(index, mask)
    matrix, labels = _stack_columns(index, counts.tag_stackset, stacks)
    sizes = {}
    if counts.tag_stackset_bytes is not None:
        sizes = {"nbytes": _stack_columns(index, counts.tag_stackset_bytes, stacks)[0].T,
                 "sized": _stack_columns(index, counts.tag_stackset_sized, stacks)[0].T}
    return _long(matrix.T, labels, index.categories["tag"], ("stack", "tag"), **sizes)


def _version_packages(index: SpecIndex, pairs: np.ndarray, keep: np.ndarray, most: int = 2) -> np.ndarray:
    """For each version code where ``keep``: the packages with that version among the
    (version, package) pairs counted in ``pairs``, e.g. ``"hdf5, netcdf-c +3 more"``
    (``most`` names, by name)."""
    present = pairs > 0
    versions, packages = index.pair_version[present], index.pair_package[present]
    n_versions = len(index.categories["version"])
    per_version = np.bincount(versions, minlength=n_versions)
    first = np.searchsorted(versions, np.arange(n_versions))
    names = index.categories["package"]
    out = []
    for code in np.flatnonzero(keep):
        k, start = per_version[code], first[code]
        shown = ", ".join(names[packages[start : start + min(k, most)]])
        out.append(f"{shown} +{k - most} more" if k > most else shown)
    return np.asarray(out, dtype=object)


def option_counts(index: SpecIndex, sel: Selection, masks: dict[str, np.ndarray] | None = None) -> dict[str, pd.DataFrame]:
    """Selector options that exist under the *other* selections, with counts.

    For each dimension, the specs matching every active filter except that
    dimension's own (and except the heatmap cell) are counted per value.

    Returns:
        ``{dimension: DataFrame(value: str, specs: int64)}``, values with zero
        specs dropped unless currently selected, ordered by value; versions
        newest first in Spack's order (see :mod:`dashboard.core.spack`) with a third
        column ``packages`` (str: the packages that have that version, at
        most two named, e.g. ``"py-pip, py-wheel +2 more"``).
    """
    masks = masks if masks is not None else dimension_masks(index, sel)
    out = {}
    for dim in DIMENSIONS:
        counts = counts_of(index, sel, masks, dim, "cell") if dim in masks else counts_of(index, sel, masks, "cell")
        cats = index.categories[dim]
        per = counts.per(index, dim)
        keep = (per > 0) | _lookup(cats, sel.values(dim))
        frame = pd.DataFrame({"value": cats[keep].astype(str), "specs": per[keep].astype(np.int64)})
        if dim == "version":  # categories are in Spack's order, oldest first
            frame["packages"] = _version_packages(index, counts.pairs, keep)
            frame = frame.iloc[::-1].reset_index(drop=True)
        out[dim] = frame
    return out


def _counted_stacks(index: SpecIndex, sel: Selection) -> np.ndarray:
    """Boolean over stack codes: the stacks the headline counts (see :func:`headline`)."""
    named = [s for s in (*sel.stack, *(sel.cell[1:] if sel.cell else ())) if s != ROOT_STACK]
    counted = _lookup(index.categories["stack"], named) if named else np.ones(len(index.categories["stack"]), dtype=bool)
    counted &= index.categories["stack"] != ROOT_STACK
    return counted


def headline(index: SpecIndex, mask: np.ndarray, sel: Selection = Selection(), counts: Counts | None = None) -> dict[str, int]:
    """Headline numbers for masked specs (``counts``: their :func:`count` if known).

    Returns:
        ``packages`` (distinct package names), ``pages`` (distinct tag x package),
        ``specs``, ``stacks``, ``bytes`` (sum of known sizes), ``tags``.

        ``stacks`` counts the named stacks that hold at least one of the specs
        (:data:`ROOT_STACK`, which holds every spec of a tag, is never counted),
        among the stacks ``sel`` names (its stack filter and its heatmap cell's
        stack) when it names any: stack ``e4s`` gives 1 however many other
        stacks also hold those specs.
    """
    counts = counts if counts is not None else count(index, mask)
    return {
        "packages": int(np.count_nonzero(counts.per(index, "package"))),
        "pages": counts.pages,
        "specs": counts.specs,
        "stacks": int(np.count_nonzero((counts.per(index, "stack") > 0) & _counted_stacks(index, sel))),
        "tags": int(np.count_nonzero(counts.per(index, "tag"))),
        "bytes": counts.bytes,
    }


def table_rows(index: SpecIndex, mask: np.ndarray) -> pd.DataFrame:
    """Spec rows under ``mask`` with :data:`TABLE_COLUMNS`, index = spec id, in the
    table's order (package, then version newest first, then tag: see
    :attr:`SpecIndex.table_order`).  Every spec selected: the index's own frame
    (shared, not to be modified), else a new frame."""
    keep = mask[index.table_order]
    return index.table if keep.all() else index.table[keep]


@dataclass
class Result:
    """Everything one selector change recomputes (see :func:`compute`)."""

    mask: np.ndarray
    numbers: dict[str, int]
    package_stack: pd.DataFrame
    os_target: pd.DataFrame
    stack_tag: pd.DataFrame
    #: computes :attr:`options` (see :func:`option_counts`) when first asked for
    options_of: Callable[[], dict[str, pd.DataFrame]] = field(default=dict, repr=False)
    #: ``stack``/``tag`` -> DataFrame ``stack``/``tag`` (str), ``bytes`` (int64, known
    #: sizes summed), ``sized`` (int64), ``specs`` (int64) of the selection, largest
    #: first, named stacks only (``root`` holds every spec); empty without known sizes
    sizes_by: dict[str, pd.DataFrame] = field(default_factory=dict)
    _options: dict[str, pd.DataFrame] | None = field(default=None, init=False, repr=False)

    @property
    def options(self) -> dict[str, pd.DataFrame]:
        """Each dimension's options with their spec counts under the other filters
        (:func:`option_counts`), computed when first asked for: the served app labels
        its selectors after the answer is shown (up to ~65 ms of a change at 2M rows)."""
        if self._options is None:
            self._options = self.options_of()
            self.options_of = dict  # what it held (the selection's masks) is not kept
        return self._options


def compute(index: SpecIndex, sel: Selection, top_n: int = 40) -> Result:
    """All recomputation behind one selector change.

    The heatmaps ignore ``sel.cell`` (the cell only narrows the table and the
    numbers); the stack x tag heatmap ignores the tag filter so every tag stays
    visible for comparison.  Counts of each selection involved (the selection,
    and without each of its filters for the options) are kept in the index's
    memo: a selection seen before, by any session, costs only its mask.
    """
    masks = dimension_masks(index, sel)
    mask = combine(masks, index.n)
    shown = counts_of(index, sel, masks, "cell")
    no_cell = combine(masks, index.n, exclude=("cell",)) if "cell" in masks else mask
    package_stack = _memo(
        index, ("package_stack", top_n, *_key(sel, "cell")), lambda: package_stack_counts(index, no_cell, sel.stack, top_n, counts=shown)
    )
    counted = counts_of(index, sel, masks) if "cell" in masks else shown
    return Result(
        mask=mask,
        numbers=headline(index, mask, sel, counts=counted),
        sizes_by=sizes_by(index, counted),
        package_stack=package_stack,
        os_target=os_target_counts(index, no_cell, counts=shown),
        stack_tag=stack_tag_counts(index, None, sel.stack, counts=counts_of(index, sel, masks, "cell", "tag")),
        options_of=lambda: option_counts(index, sel, masks),
    )


def sizes_by(index: SpecIndex, counts: Counts) -> dict[str, pd.DataFrame]:
    """Bytes per named stack and per tag of the specs counted in ``counts`` (see
    :attr:`Result.sizes_by`); ``{}`` when the index knows no size."""
    out = {}
    for dim in ("stack", "tag"):
        pair = counts.bytes_per(index, dim)
        if pair is None:
            return {}
        labels = index.categories[dim]
        frame = pd.DataFrame({dim: labels.astype(str), "bytes": pair[0].astype(np.int64), "sized": pair[1].astype(np.int64),
                              "specs": counts.per(index, dim).astype(np.int64)})
        frame = frame[(frame["specs"] > 0) & (frame[dim] != ROOT_STACK if dim == "stack" else True)]
        out[dim] = frame.sort_values(["bytes", dim], ascending=[False, True], kind="stable").reset_index(drop=True)
    return out
