"""The one canonical Arrow schema every source yields (pages, mirrors, OCI registries):
a load is a set of tables named by :data:`TABLES`, each with its schema in
:data:`SCHEMAS`, plus ``nodes`` (:data:`NODE_SCHEMA`) for sources with a
dependency graph.  :mod:`dashboard.frames` turns them into the DataFrames of
:class:`dashboard.model.CacheData`; :mod:`dashboard.store` keeps them on disk.
Owns the schemas and how their columns get memory (:func:`use_system_allocator` for
Arrow, :func:`no_huge_page_advice` for NumPy; both set on import); no pandas, no Panel.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa


def use_system_allocator() -> None:
    """Arrow allocates through the C library's ``malloc`` (its *system* pool) rather than
    its bundled mimalloc, unless ``ARROW_DEFAULT_MEMORY_POOL`` names a pool already.

    A load copies hundreds of MB of columns (the store's rows of unchanged pages, the
    DataFrames); with mimalloc those copies took 2-3x as long and varied from run to run
    (fresh memory from the system each time): a reload after touching 1% of 145,440
    pages spent 0.47-0.71 s building its frames, 0.19-0.20 s with ``malloc``
    (``docs/benchmarks.md``).  It is also the allocator the server uses for Python
    objects, whose ``malloc_trim`` then gives back what Arrow freed too.  Called when
    this module is imported, so the parser processes use it as well."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        pa.set_memory_pool(pa.system_memory_pool())


use_system_allocator()


def no_huge_page_advice() -> None:
    """NumPy stops asking Linux for transparent huge pages for its large arrays,
    unless ``NUMPY_MADVISE_HUGEPAGE`` says otherwise (NumPy reads that variable only
    when it is first imported; this applies the same choice later too).

    On Linux NumPy advises ``MADV_HUGEPAGE`` for each array of 4 MiB or more.  Where the
    kernel's ``transparent_hugepage/defrag`` is ``madvise`` (a common default) the first
    touch of such an array may stop to compact memory: a load or a pick makes dozens of
    arrays of 8-16 MB at 2M spec rows, each on new memory.  Measured in turns, fresh
    processes (``docs/benchmarks.md``): a reload after touching 1% of 145,440 pages
    0.99 s against 1.18 s with the advice (median of 4), a warm reload 0.89 against
    1.16 s, a pick in the served app 46-52 against 51-53 ms.  Called when this module is
    imported, so the parser processes do the same."""
    if os.environ.get("NUMPY_MADVISE_HUGEPAGE") is None:
        multiarray = getattr(getattr(np, "_core", None), "multiarray", None)
        set_advice = getattr(multiarray, "_set_madvise_hugepage", None)  # what NumPy's import calls
        if set_advice is not None:
            set_advice(False)


no_huge_page_advice()

#: ``meta`` fields of a page that are lists (stored as comma-separated text).
META_LIST_FIELDS = ("stacks", "oss", "platforms", "targets", "versions", "compilers")

#: Arrow schema of the ``specs`` chunk table (one row per binary).
SPEC_SCHEMA = pa.schema(
    [
        ("page_id", pa.int32()),
        ("hash", pa.string()),
        ("version", pa.string()),
        ("compiler", pa.string()),
        ("os", pa.string()),
        ("platform", pa.string()),
        ("target", pa.string()),
        ("variants", pa.string()),
        ("stacks", pa.string()),
        ("n_stacks", pa.int16()),
        ("size", pa.int64()),
        ("n_deps", pa.int64()),  # direct dependencies: known for mirror sources only (pages: null)
        ("package_hash", pa.string()),  # Spack's hash of the recipe: mirror sources only (pages: null)
    ]
)
#: One row per spec per stack, in spec order (``n_stacks`` rows per spec).
STACK_SCHEMA = pa.schema([("page_id", pa.int32()), ("stack", pa.string())])
#: One row per page (also pages that failed to load: ``error`` is then set).
PAGE_SCHEMA = pa.schema(
    [
        ("page_id", pa.int32()),
        ("path", pa.string()),
        ("tag", pa.string()),
        ("package", pa.string()),
        ("meta_num_specs", pa.int64()),
        ("num_specs", pa.int64()),
        *[(f"meta_{name}", pa.string()) for name in META_LIST_FIELDS],
        ("error", pa.string()),
    ]
)
#: ``meta.num_specs_by_stack`` as a long table.
META_STACK_SCHEMA = pa.schema([("page_id", pa.int32()), ("stack", pa.string()), ("num_specs", pa.int64())])
#: One row per dependency edge of a binary (mirror sources only): ``hash`` depends on
#: ``dep_hash`` named ``dep_name``; ``deptypes``, ``virtuals`` comma-separated.
DEPENDENCIES_SCHEMA = pa.schema(
    [
        ("page_id", pa.int32()),
        ("hash", pa.string()),
        ("dep_hash", pa.string()),
        ("dep_name", pa.string()),
        ("deptypes", pa.string()),
        ("virtuals", pa.string()),
    ]
)
#: One row per problem found while reading a page.
PROBLEM_SCHEMA = pa.schema(
    [("page_id", pa.int32()), ("path", pa.string()), ("severity", pa.string()), ("problem", pa.string())]
)
#: Records of a mirror's index that are not binaries (externals, and dependencies not
#: pushed): ``tag``, ``hash``, ``package``, ``version``, ``compiler``, ``os``, ``platform``,
#: ``target``, ``variants`` (text), ``external`` (bool) and ``package_hash`` (text).
NODE_SCHEMA = pa.schema([("tag", pa.string()), ("hash", pa.string()), ("package", pa.string())]
                        + [pa.field(n, pa.string()) for n in ("version", "compiler", "os", "platform", "target", "variants")]
                        + [("external", pa.bool_()), ("package_hash", pa.string())])

#: The tables of a load, in order.
TABLES = ("specs", "spec_stacks", "pages", "meta_stacks", "problems", "dependencies")
SCHEMAS = {
    "specs": SPEC_SCHEMA,
    "spec_stacks": STACK_SCHEMA,
    "pages": PAGE_SCHEMA,
    "meta_stacks": META_STACK_SCHEMA,
    "problems": PROBLEM_SCHEMA,
    "dependencies": DEPENDENCIES_SCHEMA,
}


def empty_tables() -> dict[str, pa.Table]:
    """One empty table per name in :data:`TABLES`, with its schema (a load of nothing)."""
    return {name: SCHEMAS[name].empty_table() for name in TABLES}


def concat_tables(parts: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """Concatenate parse results (``{table name: pa.Table}`` per part, see
    :data:`TABLES`); parts from the store carry dictionary columns, freshly
    parsed ones are cast to match.  No parts: :func:`empty_tables`."""
    parts = [p for p in parts if p] or [empty_tables()]
    out = {}
    for name in TABLES:
        tables = [p[name] for p in parts]
        # cached tables carry dictionary columns; cast freshly parsed ones to match
        schema = next((t.schema for t in tables if any(pa.types.is_dictionary(f.type) for f in t.schema)), tables[0].schema)
        out[name] = pa.concat_tables([t if t.schema.equals(schema) else t.cast(schema) for t in tables])
    return out
