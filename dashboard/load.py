"""Load a build-cache tree into pandas DataFrames, with a Parquet cache.

Pure Python/pandas/pyarrow: nothing here imports Panel.  Typical use::

    from dashboard.load import load
    data = load("assets/pages")          # a page, a tree, or a list of pages
    data.specs.groupby("os").size()

The first load of a tree parses every ``specs.md`` (in parallel across cores for
large trees) and writes a Parquet cache keyed by each page's path, size and
mtime; later loads read the cache and re-parse only changed, added or removed
pages, which are appended to the cache as a new segment (the cache is rewritten
whole when dead rows pile up).  A stale or corrupt cache is detected and
rebuilt, never trusted.  Finding what changed costs one ``stat`` per known page
(batched) and per inner folder; only folders whose mtime changed are listed
again (see :func:`_scan`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .parse import (
    META_STACK_SCHEMA,
    PAGE_SCHEMA,
    PROBLEM_SCHEMA,
    SPEC_SCHEMA,
    STACK_SCHEMA,
    parse_pages,
)
from .spack import version_key

PAGE_NAME = "specs.md"
CACHE_FORMAT = 7
#: The cache is rewritten whole when it would have more segments than this ...
MAX_SEGMENTS = 8
#: ... or more dead spec rows (of changed or removed pages) than this fraction of live ones.
MAX_DEAD_FRACTION = 0.1
#: Below this many pages parsing stays in-process (process start-up costs more).
PARALLEL_MIN_PAGES = 3000
CHUNK_PAGES = 1000
TABLES = ("specs", "spec_stacks", "pages", "meta_stacks", "problems")
SCHEMAS = {
    "specs": SPEC_SCHEMA,
    "spec_stacks": STACK_SCHEMA,
    "pages": PAGE_SCHEMA,
    "meta_stacks": META_STACK_SCHEMA,
    "problems": PROBLEM_SCHEMA,
}
ProgressFn = Callable[[int, int], None]
#: Columns read back from the cache as Arrow dictionaries (-> pandas categoricals, no re-hashing).
#: Columns of ``specs`` converted as they are (``page_id``, ``tag``, ``package`` are derived).
SPEC_VALUE_COLUMNS = ["hash", "version", "compiler", "os", "platform", "target", "variants", "stacks", "size"]
#: Columns of unique strings, written without dictionary encoding.
UNIQUE_COLUMNS = {"hash", "path"}
DICT_COLUMNS = {
    "specs": ["version", "compiler", "os", "platform", "target", "variants", "stacks"],
    "spec_stacks": ["stack"],
    "meta_stacks": ["stack"],
}


@dataclass
class CacheData:
    """One loaded build cache (any number of tags), as pandas DataFrames.

    Attributes:
        specs: one row per binary (per tag: the same hash in two tags is two rows).
            Columns: ``tag``, ``package``, ``version``, ``compiler``, ``os``,
            ``platform``, ``target``, ``variants`` (space-separated), ``stacks``
            (comma-separated, for display) - all ``category``; ``hash`` (``str``),
            ``size`` (``Int64``, bytes, ``<NA>`` where the page says ``"-"``),
            ``page_id`` (``int32``).  The index is the spec id ``0..n-1``.
        spec_stacks: one row per spec per stack: ``spec`` (``int32``, a position in
            ``specs``), ``stack`` (``category``).  Counting by stack is a groupby.
        packages: one row per page, also pages that failed: ``page_id``,
            ``path``, ``tag``, ``package`` (``category``), ``num_specs`` (rows
            loaded, ``int64``), ``meta_num_specs`` (``Int64``), ``meta_stacks``,
            ``meta_oss``, ``meta_platforms``, ``meta_targets``, ``meta_versions``,
            ``meta_compilers`` (comma-separated ``str`` from the ``meta`` rollup),
            ``error`` (``str``, ``<NA>`` when the page loaded).
        meta_stacks: ``meta.num_specs_by_stack`` long: ``page_id`` (``int32``),
            ``stack`` (``category``), ``num_specs`` (``int64``).
        problems: one row per problem: ``path``, ``tag``, ``package``,
            ``severity`` (``"error"``: page not loaded; ``"warning"``: loaded, but
            something is off, e.g. ``meta`` disagrees with ``spec_details``),
            ``problem`` (text).
        source: what was loaded (path or description).
        cache_status: how the load went, e.g. ``"cold: 74 pages parsed"``.
    """

    specs: pd.DataFrame
    spec_stacks: pd.DataFrame
    packages: pd.DataFrame
    meta_stacks: pd.DataFrame
    problems: pd.DataFrame
    source: str = ""
    cache_status: str = ""
    timings: dict = field(default_factory=dict)

    @property
    def tags(self) -> list[str]:
        """Tags (mirror snapshots) that have at least one loaded page, sorted."""
        return sorted(self.packages.loc[self.packages["error"].isna(), "tag"].astype(str).unique())

    def summary(self) -> pd.DataFrame:
        """Per-tag counts plus a ``TOTAL`` row.

        Returns:
            DataFrame indexed by tag with int columns ``pages`` (loaded pages),
            ``specs``, ``stacks``, ``oss``, ``targets``, ``problems``.
        """
        specs = self.specs
        ok = self.packages[self.packages["error"].isna()]
        stacks = self.spec_stacks.assign(tag=specs["tag"].to_numpy()[self.spec_stacks["spec"].to_numpy()])
        rows = {}
        for tag in self.tags + ["TOTAL"]:
            sel = slice(None) if tag == "TOTAL" else specs["tag"] == tag
            st = stacks if tag == "TOTAL" else stacks[stacks["tag"] == tag]
            pg = ok if tag == "TOTAL" else ok[ok["tag"] == tag]
            pr = self.problems if tag == "TOTAL" else self.problems[self.problems["tag"] == tag]
            sp = specs.loc[sel]
            rows[tag] = {
                "pages": len(pg),
                "specs": len(sp),
                "stacks": st["stack"].nunique(),
                "oss": sp["os"].nunique(),
                "targets": sp["target"].nunique(),
                "problems": len(pr),
            }
        return pd.DataFrame.from_dict(rows, orient="index")


#: A folder changed this recently (ns) is listed again by the next scan: its mtime
#: may not yet show a change made within the same timestamp tick (as git does).
RACY_NS = 2_000_000_000


def _stat_arrays(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(size, mtime_ns)`` of each path as ``int64`` arrays (bytes, ns), ``-1`` in
    both where ``os.stat`` fails.  ``map`` keeps the Python work per call small
    (``os.stat`` in threads was measured slower: the GIL is the limit; many pages
    go through :func:`_page_stats` instead)."""
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


def _page_stats(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
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
        self.paths.append(path)
        self.sizes.append(size)
        self.mtimes.append(mtime_ns)

    def walk(self, top: str, skip: set[str] | frozenset = frozenset()) -> None:
        """Search ``top`` and below, a level at a time (the candidate pages of a
        level are stat'ed in one batch, see :func:`_page_stats`); sub-folders
        named in ``skip`` are not entered."""
        level = [top]
        while level:
            sizes, mtimes = _page_stats([folder + os.sep + PAGE_NAME for folder in level])
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
    size, mtime = _page_stats(paths.tolist())
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


def _scan(source, known_pages: pd.DataFrame | None = None, known_folders: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    return _scan(source)[0].drop(columns="known")


def find_pages(source: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Every ``specs.md`` page under ``source``, as sorted absolute paths (see
    :func:`scan_pages`).

    Raises:
        FileNotFoundError: a named path does not exist.
    """
    return scan_pages(source)["path"].tolist()


def default_cache_dir(source_label: str) -> Path:
    """Where the Parquet cache for ``source_label`` lives.

    ``$SPACK_CACHE_DASHBOARD_CACHE`` or ``$XDG_CACHE_HOME/spack-cache-dashboard``
    (default ``~/.cache/...``), in a sub-folder named by a hash of the source.
    """
    base = os.environ.get("SPACK_CACHE_DASHBOARD_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "spack-cache-dashboard"
    )
    key = hashlib.sha256(source_label.encode()).hexdigest()[:16]
    return Path(base) / key


def _empty_tables() -> dict[str, pa.Table]:
    return {name: SCHEMAS[name].empty_table() for name in TABLES}


def _concat(parts: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    parts = [p for p in parts if p] or [_empty_tables()]
    out = {}
    for name in TABLES:
        tables = [p[name] for p in parts]
        # cached tables carry dictionary columns; cast freshly parsed ones to match
        schema = next((t.schema for t in tables if any(pa.types.is_dictionary(f.type) for f in t.schema)), tables[0].schema)
        out[name] = pa.concat_tables([t if t.schema.equals(schema) else t.cast(schema) for t in tables])
    return out


def _parse(items: list[tuple[int, str]], workers: int | None, progress: ProgressFn | None) -> dict[str, pa.Table]:
    total = len(items)
    if progress:
        progress(0, total)
    chunks = [items[i : i + CHUNK_PAGES] for i in range(0, total, CHUNK_PAGES)]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    results: list[dict[str, pa.Table]] = []
    done = 0
    if workers <= 1 or total < PARALLEL_MIN_PAGES:
        for chunk in chunks:
            results.append(parse_pages(chunk))
            done += len(chunk)
            if progress:
                progress(done, total)
    else:
        # fork is cheapest, but unsafe in a threaded caller (Panel/Tornado server): spawn there.
        method = "fork" if threading.active_count() == 1 and "fork" in get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method)) as pool:
            for chunk, result in zip(chunks, pool.map(parse_pages, chunks)):
                results.append(result)
                done += len(chunk)
                if progress:
                    progress(done, total)
    return _concat(results)


class _CorruptCache(Exception):
    """A cache table does not match its manifest or cannot be read."""


class _Cache:
    """A cache folder being read: its manifest, the page stats (``path``,
    ``size``, ``mtime_ns``, ``page_id``) and inner folders (``folder``,
    ``mtime_ns``) of the scan that wrote it, read at once; the segments are read
    in a background thread (Arrow releases the GIL) while the tree is checked.
    """

    def __init__(self, cache_dir: Path, manifest: dict, stats: pd.DataFrame, folders: pd.DataFrame):
        self.manifest, self.stats, self.folders = manifest, stats, folders
        #: spec rows in all segments, live or dead (of pages changed or removed since)
        self.spec_rows = sum(segment["rows"]["specs"] for segment in manifest["segments"])
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-read")
        self._future = self._pool.submit(self._read_segments, cache_dir)

    def _read_segments(self, cache_dir: Path) -> dict[str, pa.Table]:
        try:
            parts = []
            for segment in self.manifest["segments"]:
                part = {}
                for name in TABLES:
                    # one thread: this overlaps the caller's stat calls (measured faster than Arrow's pool here)
                    table = pq.read_table(cache_dir / f"{segment['name']}.{name}.parquet", read_dictionary=DICT_COLUMNS.get(name), use_threads=False)
                    plain = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema])
                    if table.num_rows != segment["rows"][name] or not plain.equals(SCHEMAS[name], check_metadata=False):
                        raise _CorruptCache(f"cache table {segment['name']}.{name} does not match its manifest")
                    part[name] = table
                if (pc.sum(part["specs"].column("n_stacks")).as_py() or 0) != part["spec_stacks"].num_rows:
                    raise _CorruptCache(f"cache segment {segment['name']}: spec_stacks do not match the specs' stack counts")
                next_id = self.manifest["next_id"]
                for name in TABLES:
                    bounds = pc.min_max(part[name].column("page_id")).as_py()
                    if part[name].num_rows and (bounds["min"] < 0 or bounds["max"] >= next_id):
                        raise _CorruptCache(f"cache table {segment['name']}.{name}: page ids outside 0..{next_id - 1}")
                parts.append(part)
            return _concat(parts) if len(parts) != 1 else parts[0]
        except _CorruptCache:
            raise
        except Exception as exc:  # noqa: BLE001 - any damage means: rebuild
            raise _CorruptCache(f"corrupt cache ({type(exc).__name__}: {exc})") from exc

    def segments(self) -> dict[str, pa.Table]:
        """Every row of every segment, live or dead (waits for the read, then
        stops the background thread: parsing may fork processes next).

        Raises:
            _CorruptCache: a segment file is unreadable or does not match the manifest.
        """
        try:
            return self._future.result()
        finally:
            self._pool.shutdown(wait=True)

    def keep(self, keep_ids: np.ndarray, next_id: int) -> Callable[[], dict[str, pa.Table]]:
        """Start dropping every row but those of the pages ``keep_ids``, in the
        background thread after the read (Arrow filters without the GIL, so
        this overlaps parsing in the caller's thread); returns a function that
        waits for the result (and raises :class:`_CorruptCache` as
        :meth:`segments` does)."""
        try:
            future = self._pool.submit(lambda: _keep_pages(self._future.result(), keep_ids, next_id))
        except RuntimeError:  # the thread was stopped already: filter when asked
            return lambda: _keep_pages(self.segments(), keep_ids, next_id)

        def result() -> dict[str, pa.Table]:
            try:
                return future.result()
            finally:
                self._pool.shutdown(wait=True)

        return result


def _alive(page_ids: np.ndarray, live: np.ndarray, next_id: int) -> np.ndarray:
    """Boolean mask: ``page_ids`` that are in ``live`` (page ids are small dense ints)."""
    lookup = np.zeros(max(next_id, int(page_ids.max(initial=-1)) + 1, 1), dtype=bool)
    lookup[live] = True
    return lookup[page_ids]


def _keep_pages(tables: dict[str, pa.Table], keep_ids: np.ndarray, next_id: int) -> dict[str, pa.Table]:
    """Rows of the pages ``keep_ids`` only (a table is returned as is when all stay)."""
    out = {}
    for name in TABLES:
        table = tables[name]
        mask = _alive(table.column("page_id").to_numpy(), keep_ids, next_id)
        out[name] = table if mask.all() else table.filter(pa.array(mask))
    if out["pages"].num_rows != len(keep_ids):  # every kept page has exactly one row
        raise _CorruptCache(f"the store holds {out['pages'].num_rows} rows for {len(keep_ids)} unchanged pages")
    return out


def _read_cache(cache_dir: Path, source: str) -> tuple[_Cache | None, str]:
    """Open a cache folder; ``(None, reason)`` if it is missing or not trustworthy.

    Layout: ``manifest.json`` names the ``source`` it was written for, lists
    segments (each a set of :data:`TABLES` Parquet files written by one load)
    and the current ``stats``/``folders`` files.  Rows of pages that changed or
    vanished since their segment was written are dead: the live pages are
    those in ``stats``.  The segments are checked as they are read, see
    :meth:`_Cache.segments`.
    """
    manifest_path = cache_dir / "manifest.json"
    if not manifest_path.exists():
        return None, "no cache"
    try:
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest, dict):
            return None, "corrupt cache (manifest is not a mapping)"
        if manifest.get("format") != CACHE_FORMAT:
            return None, f"cache format {manifest.get('format')} != {CACHE_FORMAT}"
        if manifest.get("source") != source:
            return None, "cache written for another source"
        problem = _manifest_problem(manifest)
        if problem:
            return None, f"corrupt cache ({problem})"
        stats = pq.read_table(cache_dir / manifest["stats"]).to_pandas()
        folders = pq.read_table(cache_dir / manifest["folders"]).to_pandas()
        if len(stats) != manifest["rows"]["stats"] or len(folders) != manifest["rows"]["folders"]:
            return None, "cache stats do not match the manifest"
        problem = _stats_problem(stats, folders, manifest["next_id"])
        if problem:
            return None, f"corrupt cache ({problem})"
        return _Cache(cache_dir, manifest, stats, folders), "ok"
    except Exception as exc:  # noqa: BLE001 - any damage: rebuild, never trust and never crash
        return None, f"corrupt cache ({type(exc).__name__}: {exc})"


#: Most pages a store may claim (page ids are dense; a larger ``next_id`` is damage).
MAX_PAGE_IDS = 2**31 - 1


def _manifest_problem(manifest: dict) -> str | None:
    """What is wrong with a store manifest's shape, or ``None``."""
    next_id = manifest.get("next_id")
    if type(next_id) is not int or not 0 <= next_id <= MAX_PAGE_IDS:
        return f"next_id {next_id!r} is not a page count"
    segments = manifest.get("segments")
    if not isinstance(segments, list) or not segments:
        return "no segments"
    for segment in segments:
        if not isinstance(segment, dict) or not isinstance(segment.get("name"), str) or not isinstance(segment.get("rows"), dict):
            return f"segment {segment!r} is malformed"
        if any(type(segment["rows"].get(name)) is not int or segment["rows"][name] < 0 for name in TABLES):
            return f"segment {segment['name']!r} has no row counts"
    rows = manifest.get("rows")
    if not isinstance(rows, dict) or any(type(rows.get(k)) is not int for k in ("stats", "folders")):
        return "no row counts for stats and folders"
    if not all(isinstance(manifest.get(k), str) for k in ("stats", "folders")) or type(manifest.get("generation")) is not int:
        return "stats, folders or generation missing"
    return None


def _stats_problem(stats: pd.DataFrame, folders: pd.DataFrame, next_id: int) -> str | None:
    """What is wrong with a store's page stats (``path``, ``size``, ``mtime_ns``,
    ``page_id``) and folders (``folder``, ``mtime_ns``), or ``None``."""
    for frame, columns in ((stats, ("path", "size", "mtime_ns", "page_id")), (folders, ("folder", "mtime_ns", "notes"))):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            return f"stats lack {', '.join(missing)}"
    for frame, columns in ((stats, ("size", "mtime_ns", "page_id")), (folders, ("mtime_ns",))):
        if any(not pd.api.types.is_integer_dtype(frame[c]) for c in columns):
            return "stats are not integers"
    ids = stats["page_id"].to_numpy()
    if len(ids) and (ids.min() < 0 or ids.max() >= next_id):
        return f"page ids outside 0..{next_id - 1}"
    if not stats["page_id"].is_unique or not stats["path"].is_unique:
        return "page ids or paths repeated"
    return None


def _write_table(table: pa.Table, name: str, path: Path) -> None:
    for col in DICT_COLUMNS.get(name, []):  # sorted dictionaries read back as sorted categoricals
        table = table.set_column(table.schema.get_field_index(col), col, _sorted_dictionary(table.column(col)))
    # unique strings gain nothing from dictionary encoding (measured: slower to write and read)
    pq.write_table(table, path, use_dictionary=[c for c in table.column_names if c not in UNIQUE_COLUMNS])


def _write_cache(
    cache_dir: Path,
    tables: dict[str, pa.Table],
    parsed: dict[str, pa.Table] | None,
    stats: pd.DataFrame,
    folders: pd.DataFrame,
    next_id: int,
    old: "_Cache | None",
    source: str,
) -> str:
    """Write the cache after a load; returns a note for the load status.

    ``tables`` are the rows of every page in ``stats`` (``path``, ``size``,
    ``mtime_ns``, ``page_id``), ``parsed`` those of the pages parsed by this
    load.  With a trustworthy ``old`` cache that stays compact (fewer than
    :data:`MAX_SEGMENTS` segments, dead rows at most :data:`MAX_DEAD_FRACTION`)
    only ``parsed`` is written, as one more segment; otherwise everything is
    rewritten as one segment in a new folder swapped in for the old one.  The
    manifest is replaced atomically last: readers see the old cache or the new.
    """
    new_rows = parsed["specs"].num_rows if parsed else 0
    live_rows = tables["specs"].num_rows
    if old is not None:
        dead = old.spec_rows + new_rows - live_rows
        if len(old.manifest["segments"]) < MAX_SEGMENTS and dead <= MAX_DEAD_FRACTION * max(live_rows, 1):
            gen = old.manifest["generation"] + 1
            segments = list(old.manifest["segments"])
            added = bool(parsed and parsed["pages"].num_rows)
            if added:
                for name in TABLES:
                    _write_table(parsed[name], name, cache_dir / f"s{gen}.{name}.parquet")
                segments.append({"name": f"s{gen}", "rows": {name: parsed[name].num_rows for name in TABLES}})
            _write_manifest(cache_dir, segments, stats, folders, next_id, gen, source)
            for key in ("stats", "folders"):
                (cache_dir / old.manifest[key]).unlink(missing_ok=True)
            return f"; cache: segment added ({new_rows:,} spec rows)" if added else ""
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir.parent))
    try:
        for name in TABLES:
            _write_table(tables[name], name, tmp / f"s0.{name}.parquet")
        _write_manifest(tmp, [{"name": "s0", "rows": {name: tables[name].num_rows for name in TABLES}}], stats, folders, next_id, 0, source)
        previous = cache_dir.with_name(cache_dir.name + ".old")
        if cache_dir.exists():
            shutil.rmtree(previous, ignore_errors=True)
            cache_dir.rename(previous)
        tmp.rename(cache_dir)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return "; cache: rewritten" if old is not None else ""


def _write_manifest(folder: Path, segments: list[dict], stats: pd.DataFrame, folders: pd.DataFrame, next_id: int, gen: int, source: str) -> None:
    pq.write_table(pa.Table.from_pandas(stats, preserve_index=False), folder / f"stats.{gen}.parquet", use_dictionary=False)
    pq.write_table(pa.Table.from_pandas(folders, preserve_index=False), folder / f"folders.{gen}.parquet", use_dictionary=False)
    manifest = {
        "format": CACHE_FORMAT,
        "source": source,
        "generation": gen,
        "next_id": int(next_id),
        "segments": segments,
        "stats": f"stats.{gen}.parquet",
        "folders": f"folders.{gen}.parquet",
        "rows": {"stats": len(stats), "folders": len(folders)},
    }
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, folder / "manifest.json")


def _save(cache_dir: Path, *args) -> str:
    """:func:`_write_cache`, turning a failure into a note for the load status."""
    try:
        return _write_cache(cache_dir, *args)
    except OSError as exc:
        return f"; cache not written ({exc})"


def _sorted_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` as one dictionary array whose dictionary is sorted."""
    plain = column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
    plain = plain.combine_chunks()
    values = pc.unique(plain).sort()
    return pa.chunked_array([pa.DictionaryArray.from_arrays(pc.index_in(plain, value_set=values), values)])


def _sorted_categorical(values, key=str) -> pd.Categorical:
    """``values`` as a categorical whose categories are sorted by ``key``."""
    cat = pd.Categorical(values)
    if key is str and cat.categories.is_monotonic_increasing:  # e.g. read from the cache: nothing to recode
        return cat
    order = sorted(cat.categories, key=key)
    return cat if list(cat.categories) == order else cat.reorder_categories(order)


def _to_frames(tables: dict[str, pa.Table], next_id: int) -> dict[str, pd.DataFrame]:
    """Arrow tables of live pages only (page ids below ``next_id``) -> DataFrames
    (see :class:`CacheData`); spec ids are positions in the result."""
    pages = tables["pages"].to_pandas()
    for col in ("tag", "package"):
        pages[col] = _sorted_categorical(pages[col])
    pages["meta_num_specs"] = pages["meta_num_specs"].astype("Int64")
    spec_table = tables["specs"]
    specs = pd.DataFrame(index=pd.RangeIndex(spec_table.num_rows))
    page_ids = spec_table.column("page_id").to_numpy()
    position = np.zeros(max(next_id, int(page_ids.max(initial=-1)) + 1, 1), dtype=np.int64)
    position[pages["page_id"].to_numpy()] = np.arange(len(pages))
    pos = position[page_ids]
    specs["tag"] = pd.Categorical.from_codes(pages["tag"].cat.codes.to_numpy()[pos], dtype=pages["tag"].dtype)
    specs["package"] = pd.Categorical.from_codes(pages["package"].cat.codes.to_numpy()[pos], dtype=pages["package"].dtype)
    # one multi-threaded conversion (measured faster than column by column)
    converted = spec_table.select(SPEC_VALUE_COLUMNS).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for name in SPEC_VALUE_COLUMNS:
        if name == "version":  # Spack's version order: sorting the column sorts versions as Spack does
            specs[name] = _sorted_categorical(converted[name], key=version_key)
        elif name in DICT_COLUMNS["specs"]:
            specs[name] = _sorted_categorical(converted[name])
        else:
            specs[name] = converted[name]
    specs["hash"] = specs["hash"].astype("str")  # already "str" with pandas >= 3
    specs["page_id"] = page_ids.astype(np.int32)
    n_stacks = spec_table.column("n_stacks").to_numpy()
    spec_stacks = pd.DataFrame(
        {
            "spec": np.repeat(np.arange(len(specs), dtype=np.int32), n_stacks),
            "stack": _sorted_categorical(tables["spec_stacks"].column("stack").to_pandas()),
        }
    )
    meta_stacks = tables["meta_stacks"].to_pandas()
    meta_stacks["stack"] = _sorted_categorical(meta_stacks["stack"])
    problems = tables["problems"].to_pandas()
    return {"specs": specs, "spec_stacks": spec_stacks, "pages": pages, "meta_stacks": meta_stacks, "problems": problems}


def _unchanged(found: pd.DataFrame, old_stats: pd.DataFrame) -> np.ndarray:
    """Boolean per row of ``found`` (see :func:`_scan`): a known page with the same size and mtime."""
    known = found["known"].to_numpy()
    row = np.maximum(known, 0)
    return (
        (known >= 0)
        & (found["size"].to_numpy() == old_stats["size"].to_numpy()[row])
        & (found["mtime_ns"].to_numpy() == old_stats["mtime_ns"].to_numpy()[row])
    )


def _page_ids(found: pd.DataFrame, old_stats: pd.DataFrame, same: np.ndarray, next_id: int) -> np.ndarray:
    """Page ids for ``found``: the cached id where ``same``, new ids from ``next_id`` on elsewhere."""
    ids = np.empty(len(found), dtype=np.int64)
    ids[same] = old_stats["page_id"].to_numpy()[found["known"].to_numpy()[same]]
    ids[~same] = np.arange(next_id, next_id + int((~same).sum()), dtype=np.int64)
    return ids


def _usable(old: _Cache) -> tuple[_Cache | None, str]:
    """``(old, "ok")`` once its segments are read, ``(None, reason)`` if they are corrupt."""
    try:
        old.segments()
    except _CorruptCache as exc:
        return None, str(exc)
    return old, "ok"


def load(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> CacheData:
    """Load build-cache pages into a :class:`CacheData`.

    Args:
        source: a ``specs.md`` page, a folder searched at any depth, or a list.
        cache: read and write the Parquet cache (default ``True``).
        cache_dir: cache folder; default :func:`default_cache_dir`.
        workers: parser processes (default: one per core; big trees only).
        progress: called as ``progress(pages_done, pages_to_parse)``.

    Returns:
        The loaded data; bad pages are rows of ``problems`` and never stop
        other pages from loading.  ``cache_status`` says what happened (e.g.
        ``"warm: 145440 pages from cache, 0 re-parsed, 0 removed"``) and
        ``timings`` the seconds spent opening the cache (``cache_open_s``),
        checking the tree (``scan_s``), parsing pages while the cache
        segments are read (``parse_s``), building frames (``frames_s``) and
        waiting for the cache to be written (``cache_write_s``; it is written
        in a thread while the frames are built), and in all (``total_s``).

    Raises:
        FileNotFoundError: ``source`` names a path that does not exist.
    """
    t0 = time.perf_counter()
    if isinstance(source, (str, os.PathLike)):
        label = str(source)
        key = os.path.abspath(label)
    else:
        source = list(source)
        label = key = ";".join(sorted(os.path.abspath(item) for item in source))
    cache_path = Path(cache_dir) if cache_dir is not None else default_cache_dir(key)
    old, reason = _read_cache(cache_path, key) if cache else (None, "cache off")
    t_read = time.perf_counter()
    found, folders = _scan(source, old.stats, old.folders) if old is not None else _scan(source)
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
    parsed = _parse(list(zip(stats.loc[~same, "page_id"].tolist(), todo)), workers, progress) if todo else None
    if kept is not None:
        try:
            tables = kept()  # the cache's rows of unchanged pages, filtered while parsing
        except _CorruptCache as exc:  # parse everything
            old, reason = None, str(exc)
            stats["page_id"] = np.arange(len(stats), dtype=np.int64)
            todo, next_id = stats["path"].tolist(), 0
            parsed = _parse(list(zip(stats["page_id"].tolist(), todo)), workers, progress)
    next_id += len(todo)
    if old is not None:
        removed = len(old.stats) - int((found["known"].to_numpy() >= 0).sum())
        status = f"warm: {len(stats) - len(todo)} pages from cache, {len(todo)} re-parsed, {removed} removed"
        tables = _concat([tables, parsed]) if parsed else tables
        write = bool(parsed or removed or not folders.equals(old.folders))
    else:
        status = f"cold ({reason}): {len(todo)} pages parsed"
        tables, write = parsed or _empty_tables(), True
    t_parse = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-write") as writer:
        note = writer.submit(_save, cache_path, tables, parsed, stats, folders, next_id, old, key) if cache and write else None
        frames = _to_frames(tables, next_id)  # while the cache is written
        t_frames = time.perf_counter()
        status += note.result() if note is not None else ""
    problems = frames["problems"]
    pages = frames["pages"]
    info = pages.set_index("page_id")[["tag", "package"]]
    problems = problems.join(info, on="page_id")
    problems = problems[["path", "tag", "package", "severity", "problem"]]
    skipped = scan_problems(folders)
    if len(skipped):  # what the folder scan skipped: not pages, so no tag or package
        problems = pd.concat([problems.astype({"tag": object, "package": object}), skipped], ignore_index=True)
    problems = problems.sort_values(["path", "severity"], kind="stable").reset_index(drop=True)
    del tables, parsed, kept, old  # the Arrow tables: only the DataFrames stay
    pa.default_memory_pool().release_unused()  # Arrow keeps freed buffers: ~180 MB at 1M rows (measured)
    t_end = time.perf_counter()
    return CacheData(
        specs=frames["specs"],
        spec_stacks=frames["spec_stacks"],
        packages=pages,
        meta_stacks=frames["meta_stacks"],
        problems=problems,
        source=label,
        cache_status=status,
        timings={
            "cache_open_s": t_read - t0,
            "scan_s": t_scan - t_read,
            "parse_s": t_parse - t_scan,
            "frames_s": t_frames - t_parse,
            "cache_write_s": t_end - t_frames,
            "total_s": t_end - t0,
        },
    )
