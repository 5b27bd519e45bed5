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
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .model import CacheData
from . import compat
from .terms import DIMENSIONS, LABELS, ROOT_STACK, STACKS_LABEL, TABLE_COLUMNS  # noqa: F401  (the query's vocabulary)


@dataclass(frozen=True)
class Selection:
    """What is selected.  Empty tuples mean "no filter" on that dimension.

    Attributes:
        tag, stack, os, target, version: selected values (OR within a dimension).
        package: case-insensitive substring of the package name ("" = all).
        cell: ``(package, stack)`` of a clicked heatmap cell, or ``None``.
        host: only binaries that run on this host (``spack arch`` output such
            as ``linux-ubuntu22.04-zen3``, or a target name; see
            :mod:`dashboard.compat`); ``""`` = no filter.  A host that cannot
            be read filters nothing (the caller reports it).
    """

    tag: tuple[str, ...] = ()
    stack: tuple[str, ...] = ()
    os: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    version: tuple[str, ...] = ()
    package: str = ""
    cell: tuple[str, str] | None = None
    host: str = ""

    def values(self, dim: str) -> tuple[str, ...]:
        """Selected values of one of :data:`DIMENSIONS`."""
        return getattr(self, dim)

    def without(self, *dims: str) -> "Selection":
        """A copy with the given dimensions (or ``"package"``/``"cell"``/``"host"``) cleared."""
        return replace(self, **{d: ("" if d in ("package", "host") else None if d == "cell" else ()) for d in dims})


@dataclass
class SpecIndex:
    """Integer-coded view of one data set, built once by :func:`build_index`.

    Attributes:
        data: the data set it indexes.
        codes: dimension/``package`` -> ``int`` category codes, one per spec row.
        categories: dimension/``package`` -> ``numpy`` array of category labels.
        stack_spec: ``int32`` spec id per spec x stack row.
        stack_code: stack code per spec x stack row.
        package_lower: lower-cased package names (for search).
        stack_pair: ``"package"``/``"tag"`` -> ``int32`` code of (that category,
            stack) per spec x stack row, ``code * n_stacks + stack_code``: the
            package x stack and stack x tag heatmaps are one ``bincount`` each.
        page: ``int32`` page id per spec row.
        size: ``float64`` size per spec row in bytes (``nan`` where unknown).
        n: number of spec rows.
        version_pair: ``int64`` id of the spec's (version, package) pair, per
            spec row; ``pair_version``/``pair_package`` give each pair's codes,
            sorted by version then package (names the packages of a version).
        table_order: spec ids in the spec table's order: package (by name),
            then version newest first (Spack's order), then tag.
        table: the spec rows in that order, :data:`TABLE_COLUMNS`, index = spec id
            (see :func:`table_rows`; one copy shared by every session).
        host_masks: host text -> ``bool`` array of the specs that run there
            (filled by :func:`host_mask`, at most 65 hosts).
    """

    data: CacheData
    codes: dict[str, np.ndarray]
    categories: dict[str, np.ndarray]
    stack_spec: np.ndarray
    stack_code: np.ndarray
    package_lower: np.ndarray
    stack_pair: dict[str, np.ndarray] = field(default_factory=dict)
    page: np.ndarray | None = None
    size: np.ndarray | None = None
    n: int = 0
    version_pair: np.ndarray | None = None
    pair_version: np.ndarray | None = None
    pair_package: np.ndarray | None = None
    table_order: np.ndarray | None = None
    table: pd.DataFrame | None = None
    host_masks: dict[str, np.ndarray] = field(default_factory=dict)


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
    stack_spec = data.spec_stacks["spec"].to_numpy()
    stack_code = stack.cat.codes.to_numpy()
    n_stack = len(cats["stack"])
    pair = {by: codes[by][stack_spec].astype(np.int32) * np.int32(n_stack) + stack_code for by in ("package", "tag")}
    n_pkg = max(len(cats["package"]), 1)
    vp_codes, vp_id = np.unique(codes["version"].astype(np.int64) * n_pkg + codes["package"], return_inverse=True)
    table_order = np.lexsort((codes["tag"], -codes["version"].astype(np.int64), codes["package"]))
    return SpecIndex(
        data=data,
        codes=codes,
        categories=cats,
        stack_spec=stack_spec,
        stack_code=stack_code,
        package_lower=np.asarray([str(p).lower() for p in cats["package"]], dtype=object),
        stack_pair=pair,
        page=specs["page_id"].to_numpy(dtype=np.int32),
        size=specs["size"].to_numpy(dtype="float64", na_value=np.nan),
        n=len(specs),
        version_pair=vp_id.reshape(-1),
        pair_version=vp_codes // n_pkg,
        pair_package=vp_codes % n_pkg,
        table_order=table_order,
        # rows picked from it by a mask are read in order (a take in table order jumps
        # around memory: 10x slower on the text columns at 2M rows)
        table=specs.iloc[table_order, specs.columns.get_indexer(TABLE_COLUMNS)],
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


def _stack_mask(index: SpecIndex, stacks) -> np.ndarray:
    in_stack = _lookup(index.categories["stack"], stacks)[index.stack_code]
    mask = np.zeros(index.n, dtype=bool)
    mask[index.stack_spec[in_stack]] = True
    return mask


def dimension_masks(index: SpecIndex, sel: Selection) -> dict[str, np.ndarray]:
    """One boolean spec mask per active filter of ``sel`` (keys: dimensions,
    ``"package"``, ``"cell"``); inactive filters are absent."""
    masks = {}
    for dim in DIMENSIONS:
        values = sel.values(dim)
        if not values:
            continue
        if dim == "stack":
            masks[dim] = _stack_mask(index, values)
        else:
            masks[dim] = _lookup(index.categories[dim], values)[index.codes[dim]]
    if sel.package.strip():
        needle = sel.package.strip().lower()
        hit = np.fromiter((needle in p for p in index.package_lower), dtype=bool, count=len(index.package_lower))
        masks["package"] = hit[index.codes["package"]]
    if sel.cell is not None:
        package, stack = sel.cell
        masks["cell"] = _lookup(index.categories["package"], [package])[index.codes["package"]] & _stack_mask(index, [stack])
    if sel.host.strip():
        host = host_mask(index, sel.host)
        if host is not None:
            masks["host"] = host
    return masks


def host_mask(index: SpecIndex, host: str) -> np.ndarray | None:
    """Specs that run on ``host`` (see :func:`dashboard.compat.runs_mask`), kept per
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


def _stack_counts(index: SpecIndex, mask: np.ndarray, by: str, stacks=()) -> np.ndarray:
    """Matrix ``[category of by, stack]`` of spec counts over masked specs."""
    keep = mask[index.stack_spec]
    if stacks:
        keep &= _lookup(index.categories["stack"], stacks)[index.stack_code]
    n_stack = len(index.categories["stack"])
    n_by = len(index.categories[by])
    return np.bincount(index.stack_pair[by][keep], minlength=n_by * n_stack).reshape(n_by, n_stack)


def _long(matrix: np.ndarray, rows: np.ndarray, cols: np.ndarray, names: tuple[str, str]) -> pd.DataFrame:
    r, c = np.nonzero(matrix)
    return pd.DataFrame({names[0]: rows[r], names[1]: cols[c], "count": matrix[r, c].astype(np.int64)})


def package_stack_counts(index: SpecIndex, mask: np.ndarray, stacks=(), top_n: int = 40) -> pd.DataFrame:
    """Spec counts per package x stack for the ``top_n`` packages by spec count.

    Args:
        mask: specs to count (from :func:`spec_mask`).
        stacks: restrict the stack axis to these (empty: all stacks).
        top_n: keep this many packages, most specs first (ties by name).

    Returns:
        Long DataFrame ``package`` (str), ``stack`` (str), ``count`` (int64, specs), only
        non-zero cells; rows ordered by package rank then stack.
    """
    matrix = _stack_counts(index, mask, "package", stacks)
    per_package = np.bincount(index.codes["package"][mask], minlength=len(index.categories["package"]))
    order = np.lexsort((np.arange(len(per_package)), -per_package))
    order = order[per_package[order] > 0][: max(int(top_n), 1)]
    return _long(matrix[order], index.categories["package"][order], index.categories["stack"], ("package", "stack"))


def os_target_counts(index: SpecIndex, mask: np.ndarray) -> pd.DataFrame:
    """Spec counts per OS x target: long DataFrame ``os``, ``target``, ``count`` (non-zero cells)."""
    n_t = len(index.categories["target"])
    combined = index.codes["os"][mask].astype(np.int64) * n_t + index.codes["target"][mask]
    matrix = np.bincount(combined, minlength=len(index.categories["os"]) * n_t).reshape(len(index.categories["os"]), n_t)
    return _long(matrix, index.categories["os"], index.categories["target"], ("os", "target"))


def stack_tag_counts(index: SpecIndex, mask: np.ndarray, stacks=()) -> pd.DataFrame:
    """Spec counts per stack x tag: long DataFrame ``stack``, ``tag``, ``count`` (non-zero cells)."""
    matrix = _stack_counts(index, mask, "tag", stacks).T
    return _long(matrix, index.categories["stack"], index.categories["tag"], ("stack", "tag"))


def _version_packages(index: SpecIndex, mask: np.ndarray, keep: np.ndarray, most: int = 2) -> np.ndarray:
    """For each version code where ``keep``: the packages of masked specs with that
    version, e.g. ``"hdf5, netcdf-c +3 more"`` (``most`` names, by name)."""
    present = np.bincount(index.version_pair[mask], minlength=len(index.pair_version)) > 0
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
        newest first in Spack's order (see :mod:`dashboard.spack`) with a third
        column ``packages`` (str: the packages that have that version, at
        most two named, e.g. ``"py-pip, py-wheel +2 more"``).
    """
    masks = masks if masks is not None else dimension_masks(index, sel)
    out = {}
    no_cell = None
    for dim in DIMENSIONS:
        if dim in masks:
            mask = combine(masks, index.n, exclude=(dim, "cell"))
        else:  # the same mask for every dimension that is not filtered
            no_cell = mask = no_cell if no_cell is not None else combine(masks, index.n, exclude=("cell",))
        cats = index.categories[dim]
        if dim == "stack":
            counts = np.bincount(index.stack_code[mask[index.stack_spec]], minlength=len(cats))
        else:
            counts = np.bincount(index.codes[dim][mask], minlength=len(cats))
        keep = (counts > 0) | _lookup(cats, sel.values(dim))
        frame = pd.DataFrame({"value": cats[keep].astype(str), "specs": counts[keep].astype(np.int64)})
        if dim == "version":  # categories are in Spack's order, oldest first
            frame["packages"] = _version_packages(index, mask, keep)
            frame = frame.iloc[::-1].reset_index(drop=True)
        out[dim] = frame
    return out


def _counted_stacks(index: SpecIndex, sel: Selection) -> np.ndarray:
    """Boolean over stack codes: the stacks the headline counts (see :func:`headline`)."""
    named = [s for s in (*sel.stack, *(sel.cell[1:] if sel.cell else ())) if s != ROOT_STACK]
    counted = _lookup(index.categories["stack"], named) if named else np.ones(len(index.categories["stack"]), dtype=bool)
    counted &= index.categories["stack"] != ROOT_STACK
    return counted


def headline(index: SpecIndex, mask: np.ndarray, sel: Selection = Selection()) -> dict[str, int]:
    """Headline numbers for masked specs.

    Returns:
        ``packages`` (distinct package names), ``pages`` (distinct tag x package),
        ``specs``, ``stacks``, ``bytes`` (sum of known sizes), ``tags``.

        ``stacks`` counts the named stacks that hold at least one of the specs
        (:data:`ROOT_STACK`, which holds every spec of a tag, is never counted),
        among the stacks ``sel`` names (its stack filter and its heatmap cell's
        stack) when it names any: stack ``e4s`` gives 1 however many other
        stacks also hold those specs.
    """
    pkg = index.codes["package"][mask]
    tag = index.codes["tag"][mask]
    keep = mask[index.stack_spec] & _counted_stacks(index, sel)[index.stack_code]
    sizes = index.size[mask]
    return {
        "packages": int(np.count_nonzero(np.bincount(pkg, minlength=1))),
        "pages": int(np.count_nonzero(np.bincount(index.page[mask], minlength=1))),
        "specs": int(mask.sum()),
        "stacks": int(np.count_nonzero(np.bincount(index.stack_code[keep], minlength=1))),
        "tags": int(np.count_nonzero(np.bincount(tag, minlength=1))),
        "bytes": int(np.nansum(sizes)),
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
    options: dict[str, pd.DataFrame]


def compute(index: SpecIndex, sel: Selection, top_n: int = 40) -> Result:
    """All recomputation behind one selector change.

    The heatmaps ignore ``sel.cell`` (the cell only narrows the table and the
    numbers); the stack x tag heatmap ignores the tag filter so every tag stays
    visible for comparison.
    """
    masks = dimension_masks(index, sel)
    mask = combine(masks, index.n)
    no_cell = combine(masks, index.n, exclude=("cell",))
    return Result(
        mask=mask,
        numbers=headline(index, mask, sel),
        package_stack=package_stack_counts(index, no_cell, sel.stack, top_n),
        os_target=os_target_counts(index, no_cell),
        stack_tag=stack_tag_counts(index, combine(masks, index.n, exclude=("cell", "tag")), sel.stack),
        options=option_counts(index, sel, masks),
    )
