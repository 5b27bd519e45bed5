"""Parse cache.spack.io build-cache summary pages into Arrow tables.

Source format (one page per package per tag, ``_cache/<tag>/<package>/specs.md``)::

    ---
    title: "py-build"
    layout: cache
    categories: [package, develop]
    meta: {"num_specs": 52, "num_specs_by_stack": {"e4s": 18, ...}, ...}
    spec_details: [{"hash": "...", "versions": ["1.2.1"], "compiler": "none",
                    "os": "ubuntu24.04", "platform": "linux", "target": "aarch64",
                    "variants": ["~virtualenv"], "stacks": ["e4s", "root"],
                    "size": "-"}, ...]
    ---

:mod:`dashboard.sources.frontmatter` reads one page into Python objects; this module
turns records into columns (type-checked: a string where a list belongs is a
one-item list, sizes that are not byte counts are unknown, compilers have one
spelling), checks each page's ``meta`` against its ``spec_details``, and
produces the :class:`pyarrow.Table` chunks that :mod:`dashboard.load`
concatenates, stores and converts.  No Panel, no pandas.
"""

from __future__ import annotations

import os
from collections import Counter
from itertools import chain
from operator import itemgetter
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa

from dashboard.sources.frontmatter import MAX_INT, Page, PageError, SpecRecord, parse_front_matter, read_page, split_front_matter  # noqa: F401  (re-exported)
from dashboard.core.schema import (  # noqa: F401  (re-exported)
    DEPENDENCIES_SCHEMA, META_LIST_FIELDS, META_STACK_SCHEMA, PAGE_SCHEMA, PROBLEM_SCHEMA, SPEC_SCHEMA, STACK_SCHEMA,
)
from dashboard.core.spack import normalize_compiler
from dashboard.sources.base import no_cyclic_gc

SPEC_FIELDS = ("hash", "versions", "compiler", "os", "platform", "target", "variants", "stacks", "size")
_get_fields = itemgetter(*SPEC_FIELDS)
_STR_ONLY = {str}
_LIST_ONLY = {list}



def _join(value, sep: str) -> str:
    if isinstance(value, list):
        return sep.join(map(str, value))
    return "" if value is None else str(value)


def count(value) -> int | None:
    """``value`` as a count or size: an ``int`` or a string of ASCII digits, from 0
    to :data:`MAX_INT`; ``None`` for anything else (``"-"``, negative, fractional,
    too large, ``"²"``, ``True``)."""
    if type(value) is int:
        return value if 0 <= value <= MAX_INT else None
    if isinstance(value, str):
        value = value.strip()
        if value.isascii() and value.isdigit() and len(value) <= 19:
            number = int(value)
            return number if number <= MAX_INT else None
    return None


def _sizes(values: list, warnings: list[str]) -> list:
    """Byte sizes of one page's specs: ``None`` where unknown (``"-"``) or not a
    byte count (a warning says how many)."""
    out = [v if type(v) is int and 0 <= v <= MAX_INT else None if v == "-" else count(v) for v in values]
    bad = sum(1 for v, o in zip(values, out) if o is None and v != "-" and v is not None)
    if bad:
        warnings.append(f"{bad} spec size(s) are not a byte count (negative, fractional, too large or not a number): shown as unknown")
    return out


def _record_columns(rows: list[SpecRecord], warnings: list[str]):
    """Columns of typed records (:class:`SpecRecord`: every field there, of its
    type), as :func:`_spec_columns_fast` gives them; ``None`` if a hash is empty."""
    hashes = [row.hash for row in rows]
    if not all(hashes):
        return None
    stacks = [row.stacks for row in rows]
    version = [v[0] if len(v) == 1 else ", ".join(v) for v in (row.versions for row in rows)]
    compiler = [normalize_compiler(row.compiler) for row in rows]
    columns = [hashes, version, compiler, [row.os for row in rows], [row.platform for row in rows], [row.target for row in rows],
               [" ".join(row.variants) for row in rows], [", ".join(s) for s in stacks], list(map(len, stacks)),
               _sizes([row.size for row in rows], warnings)]
    return columns, list(chain.from_iterable(stacks))


def _spec_columns_fast(rows: list, warnings: list[str]):
    """Columns of ``rows`` when every row is a well-formed record, else ``None``."""
    if type(rows[0]) is SpecRecord:  # read typed: all are
        return _record_columns(rows, warnings)
    try:
        cols = list(zip(*map(_get_fields, rows)))
        if not cols:
            return None
        hashes, versions, compilers, oss, platforms, targets, variants, stacks, sizes = cols
        for column in (versions, variants, stacks):
            if set(map(type, column)) != _LIST_ONLY:
                return None
        version = [v[0] if len(v) == 1 else ", ".join(v) for v in versions]
        variant = [" ".join(v) for v in variants]
        stack = [", ".join(s) for s in stacks]
        n_stacks = list(map(len, stacks))
        flat_stacks = list(chain.from_iterable(stacks))
    except (KeyError, TypeError, AttributeError):
        return None
    for column in (hashes, version, compilers, oss, platforms, targets, flat_stacks):
        if column and set(map(type, column)) != _STR_ONLY:
            return None
    if not all(hashes):
        return None
    compiler = [normalize_compiler(c) for c in compilers]
    size = _sizes(list(sizes), warnings)
    return [list(hashes), version, compiler, list(oss), list(platforms), list(targets), variant, stack, n_stacks, size], flat_stacks


def _text(value) -> str:
    """A scalar field as text (lists and mappings are not names: ``""``)."""
    if value is None or isinstance(value, (list, dict)):
        return ""
    return str(value)


def _spec_columns_slow(rows: list, warnings: list[str]):
    """Row-by-row extraction that tolerates odd records, noting what it dropped.

    A string where a list is expected (``stacks: "e4s"``, ``versions: "1.2.3"``,
    ``variants: "+pic"``) is read as a one-item list.
    """
    if rows and type(rows[0]) is SpecRecord:  # typed, but with an empty hash
        rows = [msgspec.structs.asdict(row) for row in rows]
    cols = [[] for _ in range(10)]
    flat_stacks: list[str] = []
    sizes: list = []
    dropped = 0
    for row in rows:
        if not isinstance(row, dict) or not _text(row.get("hash")):
            dropped += 1
            continue
        stacks = row.get("stacks")
        stacks = [] if stacks is None else stacks if isinstance(stacks, list) else [stacks]
        stacks = [_text(s) for s in stacks if _text(s)]
        values = (
            _text(row["hash"]),
            _join(row.get("versions", row.get("version")), ", "),
            normalize_compiler(_text(row.get("compiler")) or "none"),
            _text(row.get("os")),
            _text(row.get("platform")),
            _text(row.get("target")),
            _join(row.get("variants"), " "),
            ", ".join(stacks),
            len(stacks),
        )
        for col, value in zip(cols, values):
            col.append(value)
        sizes.append(row.get("size"))
        flat_stacks.extend(stacks)
    cols[9] = _sizes(sizes, warnings)
    if dropped:
        warnings.append(f"{dropped} spec_details record(s) without a hash were skipped")
    return cols, flat_stacks


def meta_disagreements(meta: dict, num_specs: int, flat_stacks: list[str]) -> list[str]:
    """Where a page's ``meta`` rollup disagrees with its own ``spec_details``.

    Args:
        meta: the page's ``meta`` mapping.
        num_specs: spec records loaded from ``spec_details``.
        flat_stacks: every loaded spec's stack names, concatenated.

    Returns:
        One message per disagreement: ``meta.num_specs`` vs the record count,
        and each ``meta.num_specs_by_stack`` entry vs the loaded specs in that
        stack (a stack on only one side counts as ``absent``/0 on the other).
        A count that is not a number from 0 to :data:`MAX_INT` is reported
        as such and not compared.
    """
    out = []
    num = meta.get("num_specs")
    if num is not None and count(num) is None:
        out.append("meta.num_specs is not a count; ignored")
    elif num is not None and count(num) != num_specs:
        out.append(f"meta.num_specs is {num} but spec_details has {num_specs} records")
    by_stack = meta.get("num_specs_by_stack")
    if isinstance(by_stack, dict) and by_stack:
        loaded = Counter(flat_stacks)
        if set(map(type, by_stack.values())) == {int} and dict.__eq__(loaded, by_stack):
            return out  # the common case, every claim an int equal to the count: nothing to say
        claimed = {str(k): v for k, v in by_stack.items()}
        bad = sorted(k for k, v in claimed.items() if count(v) is None)
        if bad:
            out.append(f"meta.num_specs_by_stack is not a count for {len(bad)} stack(s); ignored")
        for stack in sorted(claimed.keys() | loaded.keys()):
            if stack in bad:
                continue
            claim, have = count(claimed[stack]) if stack in claimed else None, loaded.get(stack, 0)
            if claim != have:
                out.append(f"meta.num_specs_by_stack[{stack!r}] is {'absent' if claim is None else claim} but spec_details has {have}")
    return out


def _names(path: str) -> tuple[str, str]:
    """(tag, package) from ``.../<tag>/<package>/specs.md``."""
    parts = path.replace(os.sep, "/").rsplit("/", 3)
    package = parts[-2] if len(parts) >= 2 else Path(path).stem
    tag = parts[-3] if len(parts) >= 3 else ""
    return tag, package


def parse_pages(items: list[tuple[int, str]]) -> dict[str, pa.Table]:
    """Parse pages into Arrow tables.

    Args:
        items: ``(page_id, path)`` pairs.

    Returns:
        ``{"specs", "spec_stacks", "pages", "meta_stacks", "problems", "dependencies"}``
        tables with :data:`SPEC_SCHEMA`, :data:`STACK_SCHEMA`, :data:`PAGE_SCHEMA`,
        :data:`META_STACK_SCHEMA`, :data:`PROBLEM_SCHEMA` and
        :data:`DEPENDENCIES_SCHEMA` (empty: pages name no dependencies).  A page that fails is
        a ``pages`` row with ``error`` set plus a ``problems`` row; it never
        raises for bad input.  A page that loads but whose ``meta`` disagrees
        with its ``spec_details`` (:func:`meta_disagreements`) gets ``warning``
        rows in ``problems``.
    """
    spec_cols: list[list] = [[] for _ in range(10)]
    spec_page: list[int] = []  # page id per page, repeated by spec_count below
    spec_count: list[int] = []
    stack_names: list[str] = []
    stack_count: list[int] = []
    page_fields = PAGE_SCHEMA.names  # a new list at each use of the property
    pages = {name: [] for name in page_fields}
    meta_stacks = {name: [] for name in META_STACK_SCHEMA.names}
    problems = {name: [] for name in PROBLEM_SCHEMA.names}

    def problem(page_id, path, severity, text):
        problems["page_id"].append(page_id)
        problems["path"].append(path)
        problems["severity"].append(severity)
        problems["problem"].append(text)

    with no_cyclic_gc():  # a chunk makes ~100,000 short-lived records, no cycles
        for page_id, path in items:
            dir_tag, dir_package = _names(path)
            row = dict.fromkeys(page_fields)
            row.update(page_id=page_id, path=path, tag=dir_tag, package=dir_package, num_specs=0)
            try:
                page = read_page(path)
                warnings = list(page.warnings)
                rows = page.spec_details
                fast = _spec_columns_fast(rows, warnings) if rows else None
                cols, flat = fast if fast is not None else _spec_columns_slow(rows, warnings)
            except PageError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - never let one page stop the others
                error = f"cannot be read: {type(exc).__name__}: {str(exc)[:200]}"
            else:
                error = None
            if error is not None:
                row["error"] = error
                problem(page_id, path, "error", error)
                for name in page_fields:
                    pages[name].append(row[name])
                continue
            row["tag"] = page.tag or dir_tag
            row["package"] = page.title or dir_package
            if page.tag is None:
                warnings.append(f"no tag in categories; using folder name {dir_tag!r}")
            if page.title is None:
                warnings.append(f"no title; using folder name {dir_package!r}")
            n = len(cols[0])
            for dst, src in zip(spec_cols, cols):
                dst.extend(src)
            spec_page.append(page_id)
            spec_count.append(n)
            stack_names.extend(flat)
            stack_count.append(len(flat))
            row["num_specs"] = n
            meta = page.meta or {}
            num = meta.get("num_specs")
            row["meta_num_specs"] = count(num)
            for name in META_LIST_FIELDS:
                value = meta.get(name)
                row[f"meta_{name}"] = _join(value, ", ") if value is not None else None
            by_stack = meta.get("num_specs_by_stack")
            if isinstance(by_stack, dict):
                meta_stacks["page_id"] += [page_id] * len(by_stack)
                meta_stacks["stack"] += map(str, by_stack)
                meta_stacks["num_specs"] += map(count, by_stack.values())
            if page.meta is not None:
                warnings += meta_disagreements(meta, n, flat)
            for text in warnings:
                problem(page_id, path, "warning", text)
            for name in page_fields:
                pages[name].append(row[name])

    page_ids = np.asarray(spec_page, dtype=np.int32)
    specs = pa.table(
        [pa.array(np.repeat(page_ids, spec_count))]
        + [pa.array(col, type=f.type) for col, f in zip(spec_cols, list(SPEC_SCHEMA)[1:])]
        + [pa.nulls(len(spec_cols[0]), pa.int64()), pa.nulls(len(spec_cols[0]), pa.string())],  # n_deps, package_hash: pages do not say
        schema=SPEC_SCHEMA,
    )
    spec_stacks = pa.table(
        [pa.array(np.repeat(page_ids, stack_count)), pa.array(stack_names, type=pa.string())],
        schema=STACK_SCHEMA,
    )
    return {
        "specs": specs,
        "spec_stacks": spec_stacks,
        "pages": pa.table(pages, schema=PAGE_SCHEMA),
        "meta_stacks": pa.table(meta_stacks, schema=META_STACK_SCHEMA),
        "problems": pa.table(problems, schema=PROBLEM_SCHEMA),
        "dependencies": DEPENDENCIES_SCHEMA.empty_table(),
    }
