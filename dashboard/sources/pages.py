"""The pages source: cache.spack.io's ``_cache/<tag>/<package>/specs.md`` trees.

Finds pages (:func:`scan_tree`, a cold walk or a re-check of a known tree that
lists only folders whose mtime changed) and parses them into Arrow tables
(:func:`parse_all`, in processes for big trees; the format itself is read by
:mod:`dashboard.sources.parse`).  Pure Python and pyarrow: no pandas frames are built
here beyond the small scan tables, no Panel.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from dashboard.frames import to_frames, with_dictionaries
from dashboard.model import CacheData, LoadReport
from dashboard.sources.parse import parse_pages
from dashboard.core.schema import concat_tables, empty_tables
from dashboard.store import CorruptStore, Store, default_store_dir, open_store, save_store
from dashboard.sources.base import LoadOptions, ProgressFn, Source

PAGE_NAME = "specs.md"


#: Below this many pages parsing stays in-process (process start-up costs more).
PARALLEL_MIN_PAGES = 3000


CHUNK_PAGES = 1000




#: A folder changed this recently (ns) is listed again by the next scan: its mtime
#: may not yet show a change made within the same timestamp tick (as git does).
RACY_NS = 2_000_000_000


def _stat_arrays(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(size, mtime_ns)`` of each path as ``int64`` arrays (bytes, ns), ``-1`` in
    both where ``os.stat`` fails.  ``map`` keeps the Python work per call small
    (``os.stat`` in threads was measured slower: the GIL is the limit; many pages
    go through :func:`page_stats` instead)."""
    try:
        stats = list(map(os.stat, paths))
    except OSError:
        stats = list(map(_try_stat, paths))
    return _fields(stats)


def _fields(stats: list[os.stat_result | None]) -> tuple[np.ndarray, np.ndarray]:
    n = len(stats)
    size = np.fromiter((-1 if st is None else st.st_size for st in stats), dtype=np.int64, count=n)
    mtime = np.fromiter((-1 if st is None else st.st_mtime_ns for st in stats), dtype=np.int64, count=n)
    return size, mtime


#: Pages are stat'ed by pyarrow's file system in this many threads (it releases the
#: GIL for a whole batch: measured 2x faster than ``os.stat`` in a loop at 145k pages).
STAT_THREADS = 4


STAT_CHUNK = 4096


def page_stats(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(size, mtime_ns)`` of each page as ``int64`` arrays (bytes, ns), ``-1`` in
    both where the page is missing or not a regular file.  Same values as
    ``os.stat`` (``st_size``, ``st_mtime_ns``)."""
    if len(paths) < 1000:
        stats = [_try_stat(path) for path in paths]
        stats = [st if st is not None and stat.S_ISREG(st.st_mode) else None for st in stats]
        return _fields(stats)
    fs = pafs.LocalFileSystem()

    def stat_chunk(chunk: list[str]) -> np.ndarray:  # (2, len(chunk)): few FileInfo objects alive at once
        infos = fs.get_file_info(chunk)
        out = np.empty((2, len(infos)), dtype=np.int64)
        out[0] = np.fromiter((-1 if info.size is None else info.size for info in infos), dtype=np.int64, count=len(infos))
        out[1] = np.fromiter((-1 if info.size is None else info.mtime_ns for info in infos), dtype=np.int64, count=len(infos))
        return out

    chunks = [paths[i : i + STAT_CHUNK] for i in range(0, len(paths), STAT_CHUNK)]
    try:
        with ThreadPoolExecutor(max_workers=STAT_THREADS, thread_name_prefix="stat") as pool:
            stats = np.concatenate(list(pool.map(stat_chunk, chunks)), axis=1)
    except (OSError, ValueError):  # e.g. an unreadable folder, a name that is not UTF-8: page by page
        return _stat_arrays(paths)
    return stats[0], stats[1]


def _try_stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


class _Scan:
    """Finds pages by walking folders.

    The rule: a folder holding a ``specs.md`` file is a *package folder*; its page
    is recorded and its sub-folders are not searched (``<tag>/<package>/`` in a
    ``_cache`` tree).  Any other folder is an *inner* folder (the tree's root,
    the tag folders): it is listed and its sub-folders, except hidden ones and
    symlinks, are searched.  Checking a package folder is one ``stat`` (of
    ``<folder>/specs.md``), not a listing.
    """

    def __init__(self):
        self.now = time.time_ns()
        self.paths: list[str] = []  # pages found: path, size (bytes), mtime_ns
        self.sizes: list[int] = []
        self.mtimes: list[int] = []
        self.folders: list[str] = []  # inner folders listed, with their mtime_ns before listing
        self.folder_mtimes: list[int] = []
        self.folder_notes: list[str] = []

    def add_page(self, path: str, size: int, mtime_ns: int) -> None:
        """Record a page found: its path, size (bytes) and mtime (ns)."""
        self.paths.append(path)
        self.sizes.append(size)
        self.mtimes.append(mtime_ns)

    def walk(self, top: str, skip: set[str] | frozenset = frozenset()) -> None:
        """Search ``top`` and below, a level at a time (the candidate pages of a
        level are stat'ed in one batch, see :func:`page_stats`); sub-folders
        named in ``skip`` are not entered."""
        level = [top]
        while level:
            sizes, mtimes = page_stats([folder + os.sep + PAGE_NAME for folder in level])
            below: list[str] = []
            for folder, size, mtime_ns in zip(level, sizes.tolist(), mtimes.tolist()):
                if size >= 0:
                    self.add_page(folder + os.sep + PAGE_NAME, size, mtime_ns)
                else:
                    below += self._list(folder, skip)
            level = below

    def _list(self, folder: str, skip: set[str] | frozenset) -> list[str]:
        """Record ``folder`` as an inner folder; return its sub-folders to search.

        What is skipped is noted with the folder (see :meth:`folders_frame`):
        a folder that cannot be listed (it is then listed again by every
        load), hidden folders, symbolic links (followed never: a link may
        loop), names that are not valid UTF-8, a ``specs.md`` that is not a
        readable file.
        """
        notes: list[str] = []
        try:
            mtime = os.stat(folder).st_mtime_ns  # before listing: a later change shows next time
            entries = os.scandir(folder)
        except OSError as exc:
            self.folders.append(folder)
            self.folder_mtimes.append(-1)  # never "unchanged": retried by the next load
            self.folder_notes.append(_note(folder, f"cannot list this folder ({exc.strerror or exc}): pages below it not loaded"))
            return []
        found = []
        with entries:
            for entry in entries:
                try:
                    if entry.path in skip:
                        continue
                    if entry.name == PAGE_NAME:  # here only when it could not be stat'ed as a file
                        notes.append(_note(entry.path, f"{PAGE_NAME} is not a readable file (a broken link, or not a regular file): not loaded"))
                    elif entry.is_symlink():
                        if entry.is_dir():
                            notes.append(_note(entry.path, "symbolic link to a folder: not followed (a link may loop)"))
                        elif not os.path.exists(entry.path):
                            notes.append(_note(entry.path, "broken or looping symbolic link: skipped"))
                    elif entry.is_dir(follow_symlinks=False):
                        if not _is_utf8(entry.name):
                            notes.append(_note(entry.path, "folder name is not valid UTF-8: skipped"))
                        elif entry.name[0] == ".":
                            notes.append(_note(entry.path, "hidden folder: skipped"))
                        else:
                            found.append(entry.path)
                except OSError as exc:
                    notes.append(_note(entry.path, f"cannot be checked ({exc.strerror or exc}): skipped"))
        self.folders.append(folder)
        self.folder_mtimes.append(mtime)
        self.folder_notes.append("\n".join(notes))
        return found

    def folders_frame(self) -> pd.DataFrame:
        """Inner folders listed: ``folder``, ``mtime_ns`` (``-1`` if changed within
        :data:`RACY_NS` or not listable), ``notes`` (``str``: what was skipped
        in it, one ``path\tproblem`` a line, see :func:`scan_problems`)."""
        mtimes = np.array(self.folder_mtimes, dtype=np.int64)
        return pd.DataFrame(
            {
                "folder": self.folders,
                "mtime_ns": np.where(self.now - mtimes > RACY_NS, mtimes, -1),
                "notes": pd.Series(self.folder_notes, dtype=object),
            }
        )


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir gives undecodable bytes as lone surrogates
        return False
    return True


def _printable(path: str) -> str:
    """``path`` as text that can be stored and shown (undecodable bytes as ``\\xNN``)."""
    return path if _is_utf8(path) else os.fsencode(path).decode("utf-8", "backslashreplace")


def _note(path: str, problem: str) -> str:
    return f"{_printable(path)}\t{problem}"


def scan_problems(folders: pd.DataFrame) -> pd.DataFrame:
    """What a scan skipped, from its folders' ``notes`` (see :meth:`_Scan.folders_frame`).

    Returns:
        DataFrame ``path`` (``str``), ``severity`` (``"warning"``), ``problem`` (``str``).
    """
    lines = [line for notes in folders["notes"].dropna() if notes for line in notes.split("\n")]
    parts = [line.split("\t", 1) for line in lines]
    return pd.DataFrame(
        {"path": [p[0] for p in parts], "severity": "warning", "problem": [p[1] if len(p) > 1 else "" for p in parts]},
        columns=["path", "severity", "problem"],
    )


def _source_paths(source) -> tuple[list[str], list[str]]:
    """``(page files, folders)`` named by ``source``, as absolute resolved paths.

    Raises:
        FileNotFoundError: a named path does not exist.
    """
    files, folders = [], []
    for item in [source] if isinstance(source, (str, os.PathLike)) else list(source):
        path = Path(item).expanduser().resolve()
        if path.is_file():
            files.append(str(path))
        elif path.is_dir():
            folders.append(str(path))
        else:
            raise FileNotFoundError(f"no such page or folder: {path}")
    return files, folders


def _recheck(scan: _Scan, known_pages: pd.DataFrame, known_folders: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Check the last scan's pages and inner folders, one ``stat`` each, and walk
    what changed into ``scan``: inner folders whose mtime changed (only their new
    sub-folders are searched) and the folders of vanished pages.

    Returns:
        The known pages still there (``path``, ``size``, ``mtime_ns``, ``known``:
        row in ``known_pages``) and the unchanged inner folders; ``None`` when an
        inner folder became a package folder (the caller starts over).
    """
    paths = known_pages["path"].to_numpy()
    size, mtime = page_stats(paths.tolist())
    alive = size >= 0
    inner = known_folders["folder"].to_numpy()
    folder_mtime = _stat_arrays(inner.tolist())[1]
    same_folder = folder_mtime == known_folders["mtime_ns"].to_numpy()
    relist = inner[~same_folder & (folder_mtime >= 0)].tolist()
    lost = paths[~alive].tolist()
    if relist or lost:
        skip = set(inner.tolist())
        skip.update(map(os.path.dirname, paths.tolist()))
        for folder in relist:
            scan.walk(folder, skip)
        for page in lost:  # its folder may still be there, now an inner folder
            scan.walk(os.path.dirname(page), skip)
        if not set(map(os.path.dirname, scan.paths)).isdisjoint(inner.tolist()):
            return None
    keep = np.flatnonzero(alive)
    kept = known_pages[["path"]].iloc[keep].reset_index(drop=True)
    kept["size"], kept["mtime_ns"], kept["known"] = size[keep], mtime[keep], keep.astype(np.int64)
    return kept, known_folders[same_folder].reset_index(drop=True)


def scan_tree(source, known_pages: pd.DataFrame | None = None, known_folders: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pages under ``source`` and the inner folders listed (see :class:`_Scan`).

    With the last scan's pages (``path``, ``size``, ``mtime_ns``) and inner folders
    (``folder``, ``mtime_ns``), nothing is listed unless it changed (see
    :func:`_recheck`): POSIX updates a folder's mtime whenever an entry is
    added, removed or renamed in it.

    Returns:
        ``pages``: ``path``, ``size`` (bytes), ``mtime_ns`` (``int64``) and ``known``
        (``int64``: row in ``known_pages``, ``-1`` for a new page); known pages
        still present come first in their old order, then new pages sorted by
        path.  ``folders``: ``folder``, ``mtime_ns`` for the next scan.

    Raises:
        FileNotFoundError: a named path does not exist.
    """
    files, tops = _source_paths(source)
    scan = _Scan()
    checked = _recheck(scan, known_pages, known_folders) if known_pages is not None and known_folders is not None else None
    if checked is None:
        scan = _Scan()  # from scratch
        for path in files:
            st = os.stat(path)
            scan.add_page(path, st.st_size, st.st_mtime_ns)
        for top in tops:
            scan.walk(top)
    order = np.argsort(np.array(scan.paths, dtype=object), kind="stable")
    found = pd.DataFrame(
        {
            "path": np.array(scan.paths, dtype=object)[order],
            "size": np.array(scan.sizes, dtype=np.int64)[order],
            "mtime_ns": np.array(scan.mtimes, dtype=np.int64)[order],
            "known": np.full(len(order), -1, dtype=np.int64),
        }
    )
    if checked is None:
        if known_pages is not None:  # started over: still match the known pages
            found["known"] = pd.Index(known_pages["path"]).get_indexer(found["path"]).astype(np.int64)
        pages, folders = found, scan.folders_frame()
    else:
        kept, kept_folders = checked
        pages = pd.concat([kept, found], ignore_index=True) if len(found) else kept
        folders = pd.concat([kept_folders, scan.folders_frame()], ignore_index=True)
    if len(found) and not pages["path"].is_unique:  # a page named twice in a list source
        pages = pages.drop_duplicates("path", ignore_index=True)
    return pages, folders.drop_duplicates("folder", ignore_index=True)


def scan_pages(source: str | os.PathLike | Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Every ``specs.md`` page under ``source`` with its size and mtime.

    Args:
        source: a page file, a directory, or an iterable of either.  A
            directory is searched at any depth, but a folder that holds a
            ``specs.md`` is a package folder and its sub-folders are not
            searched; hidden and symlinked folders are skipped.

    Returns:
        DataFrame sorted by ``path`` (absolute, ``str``) with ``size`` (bytes,
        ``int64``) and ``mtime_ns`` (``int64``).

    Raises:
        FileNotFoundError: a named path does not exist.
    """
    return scan_tree(source)[0].drop(columns="known")


def find_pages(source: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Every ``specs.md`` page under ``source``, as sorted absolute paths (see
    :func:`scan_pages`).

    Raises:
        FileNotFoundError: a named path does not exist.
    """
    return scan_pages(source)["path"].tolist()


def _parse_chunk(items: list[tuple[int, str]]) -> dict[str, pa.Table]:
    """:func:`~dashboard.sources.parse.parse_pages` with the text columns as dictionaries
    (:func:`dashboard.frames.with_dictionaries`)."""
    return with_dictionaries(parse_pages(items))


def parse_all(items: list[tuple[int, str]], workers: int | None, progress: ProgressFn | None) -> dict[str, pa.Table]:
    """Parse ``(page_id, path)`` pages (see :func:`dashboard.sources.parse.parse_pages`) in
    chunks of :data:`CHUNK_PAGES`: in this process below :data:`PARALLEL_MIN_PAGES`
    pages, else in ``workers`` processes (default: one per core; forked when the
    caller has no threads, spawned in a server).  ``progress(done, total)`` is
    called after each chunk.  Returns the concatenated tables."""
    total = len(items)
    if progress:
        progress(0, total)
    chunks = [items[i : i + CHUNK_PAGES] for i in range(0, total, CHUNK_PAGES)]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    results: list[dict[str, pa.Table]] = []
    done = 0
    if workers <= 1 or total < PARALLEL_MIN_PAGES:
        for chunk in chunks:
            results.append(_parse_chunk(chunk))
            done += len(chunk)
            if progress:
                progress(done, total)
    else:
        # fork is cheapest, but unsafe in a threaded caller (Panel/Tornado server): spawn there.
        method = "fork" if threading.active_count() == 1 and "fork" in get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method)) as pool:
            for chunk, result in zip(chunks, pool.map(_parse_chunk, chunks)):
                results.append(result)
                done += len(chunk)
                if progress:
                    progress(done, total)
    return concat_tables(results)


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


class PagesSource(Source):
    """cache.spack.io summary pages: a ``specs.md`` page, a folder searched at any
    depth, or several of them read as one source (one store over all).

    :meth:`load` runs: open the store (:mod:`dashboard.store`, the local copy
    of the last load) -> :func:`scan_tree` for what changed (size and mtime per page,
    folders listed again only when their mtime changed) -> parse only new and changed
    pages (:func:`parse_all`) while the store's rows of unchanged pages are read ->
    :func:`dashboard.frames.to_frames` while the store is written back.  A damaged
    store is rebuilt, never trusted."""

    kind = "pages"
    joins_locations = True

    @classmethod
    def claims(cls, location: str) -> bool:
        """Every location no other source claims is read as pages (a missing path
        then raises ``FileNotFoundError`` naming it)."""
        return True

    def load(self, options: LoadOptions) -> CacheData:
        """See :meth:`Source.load`: ``problems`` rows are bad pages (with their tag
        and package) and what the folder scan skipped; ``report`` says cold or warm,
        pages parsed, read from the store, removed, and seconds per step."""
        t0 = time.perf_counter()
        source = self.locations[0] if len(self.locations) == 1 else list(self.locations)
        label = str(source) if len(self.locations) == 1 else ";".join(sorted(os.path.abspath(item) for item in self.locations))
        key = os.path.abspath(label) if len(self.locations) == 1 else label
        cache, cache_dir, workers, progress = options.cache, options.cache_dir, options.workers, options.progress
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


def _problems(frames: dict[str, pd.DataFrame], folders: pd.DataFrame) -> pd.DataFrame:
    """Problems of the pages (with their tag and package) and of the folder scan,
    sorted by path: ``path``, ``tag``, ``package``, ``severity``, ``problem``."""
    info = frames["pages"].set_index("page_id")[["tag", "package"]]
    problems = frames["problems"].join(info, on="page_id")[["path", "tag", "package", "severity", "problem"]]
    skipped = scan_problems(folders)
    if len(skipped):  # what the folder scan skipped: not pages, so no tag or package
        problems = pd.concat([problems.astype({"tag": object, "package": object}), skipped], ignore_index=True)
    return problems.sort_values(["path", "severity"], kind="stable").reset_index(drop=True)
