"""Load a build cache into pandas DataFrames: the pipeline, step by step.

Pure Python/pandas/pyarrow: nothing here imports Panel.  Typical use::

    from dashboard.load import load
    data = load("assets/pages")          # a page, a tree, or a list of pages
    data.specs.groupby("os").size()
    print(data.report)                   # cold or warm, pages parsed, seconds per step

:func:`load` runs: open the store (:mod:`dashboard.store`, the local Parquet
copy of the last load) -> check the source for what changed
(:mod:`dashboard.sources.pages`) -> parse only new and changed pages while
the store's rows of unchanged pages are read -> build the DataFrames
(:mod:`dashboard.frames`) while the store is written back -> a
:class:`~dashboard.model.CacheData` with its :class:`~dashboard.model.LoadReport`.
A damaged store is rebuilt, never trusted.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from .frames import concat_tables, empty_tables, to_frames
from .merge import merge
from .model import CacheData, LoadReport
from .sources.pages import PARALLEL_MIN_PAGES, ProgressFn, find_pages, parse_all, scan_pages, scan_problems, scan_tree
from .sources.mirror import looks_like_mirror, read_mirrors, resolve
from .store import CorruptStore, Store, default_store_dir, open_store, save_store, store_base

__all__ = ["CacheData", "LoadReport", "find_pages", "load", "scan_pages"]


def _unchanged(found: pd.DataFrame, old_stats: pd.DataFrame) -> np.ndarray:
    """Boolean per row of ``found`` (see :func:`scan_tree`): a known page with the same size and mtime."""
    known = found["known"].to_numpy()
    if not len(old_stats):  # a store of an empty tree: every page is new
        return np.zeros(len(found), dtype=bool)
    valid = (known >= 0) & (known < len(old_stats))
    row = np.where(valid, known, 0)
    return (
        valid
        & (found["size"].to_numpy() == old_stats["size"].to_numpy()[row])
        & (found["mtime_ns"].to_numpy() == old_stats["mtime_ns"].to_numpy()[row])
    )


def _page_ids(found: pd.DataFrame, old_stats: pd.DataFrame, same: np.ndarray, next_id: int) -> np.ndarray:
    """Page ids for ``found``: the cached id where ``same``, new ids from ``next_id`` on elsewhere."""
    ids = np.empty(len(found), dtype=np.int64)
    ids[same] = old_stats["page_id"].to_numpy()[found["known"].to_numpy()[same]]
    ids[~same] = np.arange(next_id, next_id + int((~same).sum()), dtype=np.int64)
    return ids


def _usable(old: Store) -> tuple[Store | None, str]:
    """``(old, "ok")`` once its segments are read, ``(None, reason)`` if they are corrupt."""
    try:
        old.segments()
    except CorruptStore as exc:
        return None, str(exc)
    return old, "ok"


def load(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    **options,
) -> CacheData:
    """See :func:`_load` (the arguments and what is returned); binaries whose hash is not a
    Spack DAG hash (32 characters a-z, 2-7) are also listed as ``warning`` problems: the
    dashboard offers no install command for them."""
    return _flag_odd_hashes(_load(source, **options))


_BASE32 = np.zeros(256, dtype=bool)
_BASE32[list(b"abcdefghijklmnopqrstuvwxyz234567")] = True


def odd_hashes(hashes: pd.Series) -> np.ndarray:
    """Boolean per row: the hash is not a Spack DAG hash (32 characters a-z, 2-7).
    Reads the strings' Arrow buffers (~0.2 s at 2M rows, where a regular expression
    takes ~0.6 s)."""
    array = pa.array(hashes)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=width)[array.offset:array.offset + len(array) + 1].astype(np.int64)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] is not None else np.zeros(0, np.uint8)
    odd = np.diff(offsets) != 32
    if array.null_count:
        odd |= np.asarray(array.is_null())
    bad = np.flatnonzero(~_BASE32[data[offsets[0]:offsets[-1]]]) + offsets[0]
    if len(bad):
        odd[np.searchsorted(offsets, bad, side="right") - 1] = True
    return odd


def _flag_odd_hashes(data: CacheData) -> CacheData:
    odd = data.specs[odd_hashes(data.specs["hash"])]
    if odd.empty:
        return data
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
    """Load build-cache pages or Spack mirrors into a :class:`CacheData`.

    Args:
        source: a ``specs.md`` page, a folder searched at any depth, or a list
            of them; or mirrors (see :func:`dashboard.sources.mirror.resolve`):
            a mirror folder or URL (``file://``, ``http(s)://``, ``s3://``), a
            ``cache_spack_io_index.json`` or a mirror-set YAML file.  A list
            may mix both: a spec in several is one spec (:mod:`dashboard.merge`).
        cache: read and write the local store (default ``True``).
        cache_dir: store folder; default :func:`default_store_dir` (pages) or
            :func:`dashboard.store.store_base` (mirrors).
        workers: parser processes (default: one per core; big trees only).
        progress: called as ``progress(pages_done, pages_to_parse)`` for pages,
            ``progress(done, total, unit)`` for mirrors (``unit``: ``"mirror"``,
            ``"B"`` downloaded, ``"manifest"`` read for sizes; ``total`` may be
            ``None``).
        sizes: mirrors only: read each binary's size from its v3 spec manifest
            (one request per spec, cached).

    Returns:
        The loaded data; bad pages are rows of ``problems`` and never stop
        other pages from loading.  ``report`` (:class:`LoadReport`) says what
        happened: cold or warm, pages parsed, read from the store, removed,
        and the seconds each step took.

    Raises:
        FileNotFoundError: ``source`` names a path that does not exist.
        dashboard.sources.mirror.MirrorError: a mirror list that cannot be
            read (a single failed mirror is a problem row instead).
    """
    if isinstance(source, (str, os.PathLike)) and looks_like_mirror(str(source)):
        return load_mirrors(str(source), cache=cache, cache_dir=cache_dir, progress=progress, sizes=sizes)
    if not isinstance(source, (str, os.PathLike)):
        source = list(source)
        mirrors = [str(s) for s in source if looks_like_mirror(str(s))]
        if mirrors:  # pages and mirrors together: each loaded on its own, then one spec per (tag, hash)
            pages = [s for s in source if not looks_like_mirror(str(s))]
            parts = [load_mirrors(m, cache=cache, cache_dir=cache_dir, progress=progress, sizes=sizes) for m in mirrors]
            if pages:
                parts.append(_load(pages, cache=cache, cache_dir=cache_dir, workers=workers, progress=progress))
            return merge(parts, source=";".join(map(str, source)))
    t0 = time.perf_counter()
    if isinstance(source, (str, os.PathLike)):
        label = str(source)
        key = os.path.abspath(label)
    else:
        source = list(source)
        label = key = ";".join(sorted(os.path.abspath(item) for item in source))
    store_path = Path(cache_dir) if cache_dir is not None else default_store_dir(key)
    old, reason = open_store(store_path, key) if cache else (None, "cache off")
    t_read = time.perf_counter()
    found, folders = scan_tree(source, old.stats, old.folders) if old is not None else scan_tree(source)
    t_scan = time.perf_counter()
    stats = found[["path", "size", "mtime_ns"]].copy()
    same = _unchanged(found, old.stats) if old is not None else np.zeros(len(stats), dtype=bool)
    if old is not None and (~same).sum() >= PARALLEL_MIN_PAGES:
        old, reason = _usable(old)  # parsing in processes: let the cache read finish first
        same &= old is not None
    next_id = int(old.manifest["next_id"]) if old is not None else 0
    todo = stats.loc[~same, "path"].tolist()
    stats["page_id"] = _page_ids(found, old.stats, same, next_id) if old is not None else np.arange(len(stats), dtype=np.int64)
    kept = old.keep(stats.loc[same, "page_id"].to_numpy(), next_id) if old is not None else None
    parsed = parse_all(list(zip(stats.loc[~same, "page_id"].tolist(), todo)), workers, progress) if todo else None
    if kept is not None:
        try:
            tables = kept()  # the cache's rows of unchanged pages, filtered while parsing
        except CorruptStore as exc:  # parse everything
            old, reason = None, str(exc)
            stats["page_id"] = np.arange(len(stats), dtype=np.int64)
            todo, next_id = stats["path"].tolist(), 0
            parsed = parse_all(list(zip(stats["page_id"].tolist(), todo)), workers, progress)
    next_id += len(todo)
    report = LoadReport(reason="" if old is not None else reason, pages=len(stats), parsed=len(todo))
    if old is not None:
        report.store, report.from_store = "warm", len(stats) - len(todo)
        report.removed = len(old.stats) - int((found["known"].to_numpy() >= 0).sum())
        tables = concat_tables([tables, parsed]) if parsed else tables
        write = bool(parsed or report.removed or not folders.equals(old.folders))
    else:
        tables, write = parsed or empty_tables(), True
    t_parse = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-write") as writer:
        note = writer.submit(save_store, store_path, tables, parsed, stats, folders, next_id, old, key) if cache and write else None
        frames = to_frames(tables, next_id)  # while the store is written
        t_frames = time.perf_counter()
        report.store_note = note.result() if note is not None else ""
    problems = _problems(frames, folders)
    del tables, parsed, kept, old  # the Arrow tables: only the DataFrames stay
    pa.default_memory_pool().release_unused()  # Arrow keeps freed buffers: ~180 MB at 1M rows (measured)
    t_end = time.perf_counter()
    report.timings = {
        "cache_open_s": t_read - t0,
        "scan_s": t_scan - t_read,
        "parse_s": t_parse - t_scan,
        "frames_s": t_frames - t_parse,
        "cache_write_s": t_end - t_frames,
        "total_s": t_end - t0,
    }
    return CacheData(
        specs=frames["specs"],
        spec_stacks=frames["spec_stacks"],
        pages=frames["pages"],
        meta_stacks=frames["meta_stacks"],
        problems=problems,
        source=label,
        report=report,
        dependencies=frames["dependencies"],
    )


def load_mirrors(
    source: str,
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    sizes: bool = False,
) -> CacheData:
    """Load Spack mirrors (see :func:`load`; :mod:`dashboard.sources.mirror`).

    Each mirror's index is fetched only when it changed (one small request per
    mirror otherwise) and kept, parsed, under ``cache_dir``; unreachable
    mirrors are shown from there with a warning; failed mirrors are ``error``
    rows of ``problems`` with ``path`` = the mirror URL.

    Raises:
        dashboard.sources.mirror.MirrorError: the mirror list cannot be read.
    """
    t0 = time.perf_counter()
    root = (Path(cache_dir) if cache_dir is not None else store_base()) if cache else None
    mirrors = resolve(source, root)
    step = (lambda what, done, total: progress(done, total, {"mirrors": "mirror", "bytes": "B", "sizes": "manifest"}[what])) if progress else None
    tables, mirror_problems, fetched = read_mirrors(mirrors, root, label=source, sizes=sizes, progress=step)
    t_fetch = time.perf_counter()
    frames = to_frames(tables, tables["pages"].num_rows)
    nodes = tables["nodes"].to_pandas()
    problems = mirror_problems.to_pandas()
    problems.insert(2, "package", pd.Series([None] * len(problems), dtype=object))
    del tables
    pa.default_memory_pool().release_unused()
    t_end = time.perf_counter()
    report = LoadReport(store="warm" if fetched.unchanged and not fetched.fetched else "cold", reason="" if fetched.unchanged else "mirrors fetched",
                        pages=len(frames["pages"]), parsed=fetched.fetched, from_store=fetched.unchanged + fetched.offline, mirrors=fetched)
    report.timings = {"fetch_s": t_fetch - t0, "frames_s": t_end - t_fetch, "total_s": t_end - t0}
    return CacheData(
        specs=frames["specs"],
        spec_stacks=frames["spec_stacks"],
        pages=frames["pages"],
        meta_stacks=frames["meta_stacks"],
        problems=problems[["path", "tag", "package", "severity", "problem"]],
        source=source,
        report=report,
        dependencies=frames["dependencies"],
        mirrors=pd.DataFrame([(m.tag, m.stack, m.url) for m in mirrors], columns=["tag", "stack", "url"]),
        nodes=nodes,
    )


def _problems(frames: dict[str, pd.DataFrame], folders: pd.DataFrame) -> pd.DataFrame:
    """Problems of the pages (with their tag and package) and of the folder scan,
    sorted by path: ``path``, ``tag``, ``package``, ``severity``, ``problem``."""
    info = frames["pages"].set_index("page_id")[["tag", "package"]]
    problems = frames["problems"].join(info, on="page_id")[["path", "tag", "package", "severity", "problem"]]
    skipped = scan_problems(folders)
    if len(skipped):  # what the folder scan skipped: not pages, so no tag or package
        problems = pd.concat([problems.astype({"tag": object, "package": object}), skipped], ignore_index=True)
    return problems.sort_values(["path", "severity"], kind="stable").reset_index(drop=True)
