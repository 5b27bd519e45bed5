"""Load a build cache into pandas DataFrames: the pipeline, step by step.

Pure Python/pandas/pyarrow: nothing here imports Panel.  Typical use::

    from dashboard.load import load
    data = load("assets/pages")          # a page, a tree, or a list of pages
    data.specs.groupby("os").size()
    print(data.report)                   # cold or warm, pages parsed, seconds per step

:func:`load` knows no kind of source: each location goes to the kind of source
that claims it (:data:`dashboard.sources.SOURCES`: pages trees, Spack mirrors and
OCI registries, see :mod:`dashboard.sources.base`), each source reads itself
through the store into the tables of :mod:`dashboard.core.schema` and DataFrames
(:mod:`dashboard.frames`), several are merged into one (:mod:`dashboard.merge`),
and binaries whose hash Spack would refuse are flagged.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from dashboard.merge import merge
from dashboard.model import CacheData, LoadReport
from dashboard.frames import to_frames
from dashboard.core.schema import empty_tables
from dashboard.sources import LoadOptions, open_sources
from dashboard.sources.base import ProgressFn, Source, SourceError
from dashboard.sources.pages import find_pages, scan_pages  # noqa: F401  (re-exported for notebooks)

__all__ = ["CacheData", "LoadReport", "find_pages", "load", "scan_pages"]


def load(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    **options,
) -> CacheData:
    """See :func:`_load` (the arguments and what is returned); binaries whose hash is not a
    Spack DAG hash (32 characters a-z, 2-7) are also listed as ``warning`` problems: the
    dashboard offers no install command for them."""
    return _flag_odd_hashes(_load(source, **options))


#: Rows checked at a time by :func:`odd_hashes`: its temporary arrays stay in the CPU's
#: cache instead of new memory of the full column's size (a first call at 2M rows took
#: 0.1-0.47 s, then 0.02-0.03 s).
ODD_HASH_STEP = 1 << 15


def odd_hashes(hashes: pd.Series) -> np.ndarray:
    """Boolean per row: the hash is not a Spack DAG hash (32 characters a-z, 2-7).
    Reads the strings' Arrow buffers, :data:`ODD_HASH_STEP` rows at a time (~0.02 s at
    2M rows, where a regular expression takes ~0.6 s)."""
    array = pa.array(hashes)
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    parts = [_odd_in(chunk.slice(start, ODD_HASH_STEP)) for chunk in chunks for start in range(0, len(chunk), ODD_HASH_STEP)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _odd_in(array: pa.Array) -> np.ndarray:
    """:func:`odd_hashes` of one Arrow array (not chunked)."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=width)[array.offset:array.offset + len(array) + 1].astype(np.int64)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] is not None else np.zeros(0, np.uint8)
    odd = np.diff(offsets) != 32
    if array.null_count:
        odd |= np.asarray(array.is_null())
    chars = data[offsets[0]:offsets[-1]]
    # outside a-z and 2-7: two unsigned (wrapping) subtractions, ~2x faster than a table lookup per byte
    bad = np.flatnonzero((np.subtract(chars, 97, dtype=np.uint8) >= 26) & (np.subtract(chars, 50, dtype=np.uint8) >= 6)) + offsets[0]
    if len(bad):
        odd[np.searchsorted(offsets, bad, side="right") - 1] = True
    return odd


def _flag_odd_hashes(data: CacheData) -> CacheData:
    flags = odd_hashes(data.specs["hash"])
    if not flags.any():  # (selecting no rows of millions still costs ~50 ms)
        return data
    odd = data.specs[flags]
    paths = data.pages.set_index("page_id")["path"] if len(data.pages) else pd.Series(dtype=str)
    extra = pd.DataFrame({
        "path": [str(paths.get(i, data.source)) for i in odd["page_id"]],
        "tag": odd["tag"].astype(str).to_numpy(),
        "package": odd["package"].astype(str).to_numpy(),
        "severity": "warning",
        "problem": [f"hash {h[:80]!r} is not a Spack DAG hash (32 characters a-z, 2-7): no install command is offered"
                    for h in odd["hash"].astype(str)],
    })
    problems = pd.concat([data.problems, extra.astype({c: data.problems[c].dtype for c in extra if c in data.problems})], ignore_index=True)
    data.problems = problems
    return data


def _load(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    sizes: bool = False,
) -> CacheData:
    """Load build-cache pages, Spack mirrors or OCI registries into a :class:`CacheData`.

    Args:
        source: a location or a list of them, each read by the first kind of
            source that claims it (:data:`dashboard.sources.SOURCES`): a
            ``specs.md`` page or a folder searched at any depth (pages, read
            together as one source); a mirror folder or URL (``file://``,
            ``http(s)://``, ``s3://``, ``oci://``, ``oci+http://``), a
            ``cache_spack_io_index.json`` or a mirror-set YAML file (one source
            each).  A spec in several sources is one spec (:mod:`dashboard.merge`).
        cache: read and write the local store (default ``True``).
        cache_dir: store folder; default: each source's folder under
            :func:`dashboard.store.store_base`.
        workers: parser processes (default: one per core; big page trees only).
        progress: called as ``progress(pages_done, pages_to_parse)`` for pages,
            ``progress(done, total, unit)`` for mirrors (``unit``: ``"mirror"``,
            ``"B"`` downloaded, ``"manifest"`` read for sizes; ``total`` may be
            ``None``).
        sizes: mirrors only: read each binary's size in bytes from its v3 spec
            manifest or OCI image manifest (one request per binary, cached).

    Returns:
        The loaded data; bad pages and failed mirrors are rows of ``problems`` and
        never stop the others from loading.  ``report``
        (:class:`~dashboard.model.LoadReport`) says what happened: cold or warm,
        pages parsed or mirrors fetched, read from the store, and seconds per step.

    Raises:
        FileNotFoundError: ``source`` names a path that does not exist.
        dashboard.sources.mirror.MirrorError: a mirror list that cannot be
            read (a single failed mirror is a problem row instead).
    """
    options = LoadOptions(cache=cache, cache_dir=None if cache_dir is None else os.fspath(cache_dir),
                          workers=workers, progress=progress, sizes=sizes)
    sources = open_sources(source)
    if len(sources) == 1:
        return sources[0].load(options)
    parts = []
    for one in sources:  # one source that cannot be read never stops the others
        try:
            parts.append(one.load(options))
        except (SourceError, OSError) as exc:
            parts.append(_failed(one, exc))
    return merge(parts, source=";".join(s.label for s in sources))


def _failed(source: Source, exc: Exception) -> CacheData:
    """What a source that could not be read adds to a load of several: no specs, one
    ``error`` problem naming it."""
    frames = to_frames(empty_tables(), 0)
    problems = pd.DataFrame({"path": [source.label], "tag": pd.Series([None], dtype=object), "package": pd.Series([None], dtype=object),
                             "severity": ["error"], "problem": [f"{source.kind} {source.label[:300]}: {str(exc)[:500]}"]})
    return CacheData(specs=frames["specs"], spec_stacks=frames["spec_stacks"], pages=frames["pages"], meta_stacks=frames["meta_stacks"],
                     problems=problems, source=source.label, report=LoadReport(reason=str(exc)[:200]), dependencies=frames["dependencies"])
