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
rebuilt, never trusted.  Finding what changed costs two ``stat`` calls per
unchanged package folder (see :class:`_Scan`), not a listing of each.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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
import pyarrow.parquet as pq

from .parse import (
    META_STACK_SCHEMA,
    PAGE_SCHEMA,
    PROBLEM_SCHEMA,
    SPEC_SCHEMA,
    STACK_SCHEMA,
    parse_pages,
)

PAGE_NAME = "specs.md"
CACHE_FORMAT = 5
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
DICT_COLUMNS = {
    "specs": ["version", "compiler", "os", "platform", "target", "variants", "stacks"],
    "spec_stacks": ["stack"],
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
        meta_stacks: ``meta.num_specs_by_stack`` long: ``page_id``, ``stack``,
            ``num_specs``.
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


#: A folder changed this recently (ns) is not trusted as unchanged next time: its
#: mtime may not yet reflect a change made in the same timestamp tick (as git does).
RACY_NS = 2_000_000_000


def _stat_many(paths: list[str]) -> list[os.stat_result | None]:
    """``os.stat`` of each path, ``None`` where it fails.  ``map`` keeps the Python
    work per call small (threads were measured slower: the GIL, not the calls, is
    the limit)."""
    try:
        return list(map(os.stat, paths))
    except OSError:
        out: list[os.stat_result | None] = []
        for path in paths:
            try:
                out.append(os.stat(path))
            except OSError:
                out.append(None)
        return out


class _Scan:
    """One walk over page folders, helped by the leaf folders of the last walk.

    A *leaf* is a folder that holds a page and no sub-folders (``<tag>/<package>/``
    in a ``_cache`` tree).  POSIX updates a folder's mtime whenever an entry is
    added, removed or renamed in it, so a leaf whose mtime is unchanged since the
    last walk still holds just its page: a ``stat`` of the folder and one of the
    page (batched, see :func:`_stat_many`) replace listing it.  Everything else
    is listed.
    """

    def __init__(self, hint: dict[str, int] | None = None):
        self.hint = hint or {}
        self.now = time.time_ns()
        self.paths: list[str] = []  # pages found: path, size, mtime_ns
        self.sizes: list[int] = []
        self.mtimes: list[int] = []
        self.leaf_folders: list[str] = []  # leaves found: folder, mtime_ns
        self.leaf_mtimes: list[int] = []
        self.pending: list[str] = []  # hinted leaves, checked in a batch

    def add_page(self, path: str, st: os.stat_result) -> None:
        self.paths.append(path)
        self.sizes.append(st.st_size)
        self.mtimes.append(st.st_mtime_ns)

    def children(self, folder: str) -> list[str]:
        """List ``folder``: record its page, return the sub-folders still to list."""
        try:
            mtime = os.stat(folder).st_mtime_ns  # before listing: a later change shows next time
            entries = os.scandir(folder)
        except OSError:
            return []
        todo, has_page, has_sub = [], False, False
        with entries:
            for entry in entries:
                if entry.name == PAGE_NAME:
                    try:
                        if not entry.is_dir():
                            self.add_page(entry.path, entry.stat())
                            has_page = True
                    except OSError:
                        continue
                elif entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    has_sub = True
                    (self.pending if entry.path in self.hint else todo).append(entry.path)
        if has_page and not has_sub and self.now - mtime > RACY_NS:
            self.leaf_folders.append(folder)
            self.leaf_mtimes.append(mtime)
        return todo

    def _check_pending(self) -> list[str]:
        """Resolve the hinted leaves; return those that changed (to be listed)."""
        folders, self.pending = self.pending, []
        known = np.fromiter(map(self.hint.__getitem__, folders), dtype=np.int64, count=len(folders))
        now = np.fromiter((-1 if st is None else st.st_mtime_ns for st in _stat_many(folders)), dtype=np.int64, count=len(folders))
        same = np.flatnonzero(now == known)
        changed = [folders[i] for i in np.flatnonzero(now != known)]
        pages = [folders[i] + os.sep + PAGE_NAME for i in same]
        stats = _stat_many(pages)
        for i, page, st in zip(same.tolist(), pages, stats):
            if st is None:
                changed.append(folders[i])
            else:
                self.add_page(page, st)
                self.leaf_folders.append(folders[i])
        self.leaf_mtimes += [int(known[i]) for i, st in zip(same.tolist(), stats) if st is not None]
        return changed

    def walk(self, tops: list[str]) -> "_Scan":
        """Everything under ``tops``, depth first."""
        todo = list(tops)
        while todo or self.pending:
            while todo:
                todo += self.children(todo.pop())
            if self.pending:
                todo += self._check_pending()
        return self


def _scan(source, hint: dict[str, int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`scan_pages` plus the leaf folders (``folder``, ``mtime_ns``) for the next scan's ``hint``."""
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    scan = _Scan(hint)
    folders: list[str] = []
    for item in source:
        path = Path(item).expanduser().resolve()
        if path.is_file():
            scan.add_page(str(path), path.stat())
        elif path.is_dir():
            folders.append(str(path))
        else:
            raise FileNotFoundError(f"no such page or folder: {path}")
    scan.walk(folders)
    paths = np.array(scan.paths, dtype=object)
    order = np.argsort(paths, kind="stable")
    pages = pd.DataFrame(
        {"path": paths[order], "size": np.array(scan.sizes, dtype=np.int64)[order], "mtime_ns": np.array(scan.mtimes, dtype=np.int64)[order]}
    )
    if not pages["path"].is_unique:  # a page named twice in a list source
        pages = pages.drop_duplicates("path", ignore_index=True)
    leaves = pd.DataFrame({"folder": scan.leaf_folders, "mtime_ns": np.array(scan.leaf_mtimes, dtype=np.int64)})
    return pages, leaves.drop_duplicates("folder")


def scan_pages(source: str | os.PathLike | Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Every ``specs.md`` page under ``source`` with its size and mtime.

    Args:
        source: a page file, a directory (searched at any depth; hidden and
            symlinked folders skipped), or an iterable of either.

    Returns:
        DataFrame sorted by ``path`` (absolute, ``str``) with ``size`` (bytes,
        ``int64``) and ``mtime_ns`` (``int64``).

    Raises:
        FileNotFoundError: a named path does not exist.
    """
    return _scan(source)[0]


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


@dataclass
class _Cache:
    """A cache folder as read: live rows of every table, the page stats of the
    scan that wrote it, its leaf folders, and its manifest."""

    tables: dict[str, pa.Table]
    stats: pd.DataFrame  # path, size, mtime_ns, page_id
    folders: pd.DataFrame  # folder, mtime_ns
    manifest: dict
    dead_rows: int  # spec rows in the segments that belong to no current page


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
    return out


def _read_cache(cache_dir: Path) -> tuple[_Cache | None, str]:
    """Read a cache folder; ``(None, reason)`` if it is missing or not trustworthy.

    Layout: ``manifest.json`` lists segments (each a set of :data:`TABLES` Parquet
    files written by one load) and the current ``stats``/``folders`` files.  Rows
    of pages that changed or vanished since their segment was written are dead
    and dropped here: the live pages are those in ``stats``.
    """
    manifest_path = cache_dir / "manifest.json"
    if not manifest_path.exists():
        return None, "no cache"
    try:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != CACHE_FORMAT:
            return None, f"cache format {manifest.get('format')} != {CACHE_FORMAT}"
        stats = pq.read_table(cache_dir / manifest["stats"]).to_pandas()
        folders = pq.read_table(cache_dir / manifest["folders"]).to_pandas()
        if len(stats) != manifest["rows"]["stats"] or len(folders) != manifest["rows"]["folders"]:
            return None, "cache stats do not match the manifest"
        parts = []
        for segment in manifest["segments"]:
            part = {}
            for name in TABLES:
                table = pq.read_table(cache_dir / f"{segment['name']}.{name}.parquet", read_dictionary=DICT_COLUMNS.get(name))
                plain = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema])
                if table.num_rows != segment["rows"][name] or not plain.equals(SCHEMAS[name], check_metadata=False):
                    return None, f"cache table {segment['name']}.{name} does not match its manifest"
                part[name] = table
            parts.append(part)
        tables = _concat(parts) if len(parts) != 1 else parts[0]
        total = tables["specs"].num_rows
        tables = _keep_pages(tables, stats["page_id"].to_numpy(), int(manifest["next_id"]))
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        return None, f"corrupt cache ({type(exc).__name__}: {exc})"
    return _Cache(tables, stats, folders, manifest, total - tables["specs"].num_rows), "ok"


def _write_table(table: pa.Table, name: str, path: Path) -> None:
    for col in DICT_COLUMNS.get(name, []):  # sorted dictionaries read back as sorted categoricals
        table = table.set_column(table.schema.get_field_index(col), col, _sorted_dictionary(table.column(col)))
    pq.write_table(table, path, use_dictionary=True)


def _write_cache(
    cache_dir: Path,
    tables: dict[str, pa.Table],
    parsed: dict[str, pa.Table] | None,
    stats: pd.DataFrame,
    folders: pd.DataFrame,
    next_id: int,
    old: "_Cache | None",
) -> str:
    """Write the cache after a load; returns a note for the load status.

    ``tables`` are all live rows, ``parsed`` the rows of the pages parsed by this
    load.  With a trustworthy ``old`` cache that stays compact (fewer than
    :data:`MAX_SEGMENTS` segments, dead rows at most :data:`MAX_DEAD_FRACTION`)
    only ``parsed`` is written, as one more segment; otherwise everything is
    rewritten as one segment in a new folder swapped in for the old one.  The
    manifest is replaced atomically last: readers see the old cache or the new.
    """
    new_rows = parsed["specs"].num_rows if parsed else 0
    live = tables["specs"].num_rows
    if old is not None:
        dead = old.tables["specs"].num_rows + old.dead_rows + new_rows - live
        if len(old.manifest["segments"]) < MAX_SEGMENTS and dead <= MAX_DEAD_FRACTION * max(live, 1):
            gen = old.manifest["generation"] + 1
            segments = list(old.manifest["segments"])
            added = bool(parsed and parsed["pages"].num_rows)
            if added:
                for name in TABLES:
                    _write_table(parsed[name], name, cache_dir / f"s{gen}.{name}.parquet")
                segments.append({"name": f"s{gen}", "rows": {name: parsed[name].num_rows for name in TABLES}})
            _write_manifest(cache_dir, segments, stats, folders, next_id, gen)
            for key in ("stats", "folders"):
                (cache_dir / old.manifest[key]).unlink(missing_ok=True)
            return f"; cache: segment added ({new_rows:,} spec rows)" if added else ""
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir.parent))
    try:
        for name in TABLES:
            _write_table(tables[name], name, tmp / f"s0.{name}.parquet")
        _write_manifest(tmp, [{"name": "s0", "rows": {name: tables[name].num_rows for name in TABLES}}], stats, folders, next_id, 0)
        previous = cache_dir.with_name(cache_dir.name + ".old")
        if cache_dir.exists():
            shutil.rmtree(previous, ignore_errors=True)
            cache_dir.rename(previous)
        tmp.rename(cache_dir)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return "; cache: rewritten" if old is not None else ""


def _write_manifest(folder: Path, segments: list[dict], stats: pd.DataFrame, folders: pd.DataFrame, next_id: int, gen: int) -> None:
    pq.write_table(pa.Table.from_pandas(stats, preserve_index=False), folder / f"stats.{gen}.parquet")
    pq.write_table(pa.Table.from_pandas(folders, preserve_index=False), folder / f"folders.{gen}.parquet")
    manifest = {
        "format": CACHE_FORMAT,
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


def _sorted_categorical(values) -> pd.Categorical:
    cat = pd.Categorical(values)
    if cat.categories.is_monotonic_increasing:  # e.g. read from the cache: nothing to recode
        return cat
    return cat.reorder_categories(sorted(cat.categories, key=str))


def _to_frames(tables: dict[str, pa.Table]) -> dict[str, pd.DataFrame]:
    """Arrow tables -> DataFrames with category dtypes and spec ids."""
    pages = tables["pages"].to_pandas()
    for col in ("tag", "package"):
        pages[col] = _sorted_categorical(pages[col])
    pages["meta_num_specs"] = pages["meta_num_specs"].astype("Int64")
    spec_table = tables["specs"]
    specs = pd.DataFrame(index=pd.RangeIndex(spec_table.num_rows))
    page_ids = spec_table.column("page_id").to_numpy()
    pos = pd.Index(pages["page_id"]).get_indexer(page_ids)
    specs["tag"] = pd.Categorical.from_codes(pages["tag"].cat.codes.to_numpy()[pos], dtype=pages["tag"].dtype)
    specs["package"] = pd.Categorical.from_codes(pages["package"].cat.codes.to_numpy()[pos], dtype=pages["package"].dtype)
    for name in ("hash", "version", "compiler", "os", "platform", "target", "variants", "stacks"):
        column = spec_table.column(name)
        if name == "hash":
            specs[name] = column.to_pandas(types_mapper=pd.ArrowDtype).astype("str")
        else:
            specs[name] = _sorted_categorical(column.to_pandas())
    specs["size"] = spec_table.column("size").to_pandas().astype("Int64")
    specs["page_id"] = page_ids.astype(np.int32)
    n_stacks = spec_table.column("n_stacks").to_numpy()
    spec_stacks = pd.DataFrame(
        {
            "spec": np.repeat(np.arange(len(specs), dtype=np.int32), n_stacks),
            "stack": _sorted_categorical(tables["spec_stacks"].column("stack").to_pandas()),
        }
    )
    meta_stacks = tables["meta_stacks"].to_pandas()
    problems = tables["problems"].to_pandas()
    return {"specs": specs, "spec_stacks": spec_stacks, "pages": pages, "meta_stacks": meta_stacks, "problems": problems}


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
        ``timings`` the seconds spent reading the cache, scanning the tree,
        parsing and building frames.

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
    old, reason = _read_cache(cache_path) if cache else (None, "cache off")
    t_read = time.perf_counter()
    hint = dict(zip(old.folders["folder"].tolist(), old.folders["mtime_ns"].tolist())) if old is not None else None
    stats, leaves = _scan(source, hint)
    t_scan = time.perf_counter()
    unchanged = (
        old is not None
        and len(old.stats) == len(stats)
        and bool((old.stats["path"].to_numpy() == stats["path"].to_numpy()).all())
        and bool((old.stats["size"].to_numpy() == stats["size"].to_numpy()).all())
        and bool((old.stats["mtime_ns"].to_numpy() == stats["mtime_ns"].to_numpy()).all())
    )
    if unchanged:  # the common warm case: nothing to re-parse or merge
        tables, stats = old.tables, old.stats
        status = f"warm: {len(stats)} pages from cache, 0 re-parsed, 0 removed"
        if len(leaves) != len(old.folders):  # more folders now old enough to trust
            status += _save(cache_path, tables, None, stats, leaves, old.manifest["next_id"], old)
    else:
        if old is not None:
            merged = stats.merge(old.stats, on="path", how="left", suffixes=("", "_old"))
            same = (merged["size"] == merged["size_old"]) & (merged["mtime_ns"] == merged["mtime_ns_old"])
            keep_ids = merged["page_id"].where(same).dropna().astype(np.int64).to_numpy()
            next_id = int(old.manifest["next_id"])
            kept = _keep_pages(old.tables, keep_ids, next_id)
            todo = merged.loc[~same.to_numpy(), "path"].tolist()
            removed = len(old.stats) - int(merged["page_id"].notna().sum())  # old pages not found again
            status = f"warm: {len(keep_ids)} pages from cache, {len(todo)} re-parsed, {removed} removed"
        else:
            kept, todo, next_id = _empty_tables(), stats["path"].tolist(), 0
            status = f"cold ({reason}): {len(todo)} pages parsed"
        new_ids = np.arange(next_id, next_id + len(todo), dtype=np.int64)
        parsed = _parse(list(zip(new_ids.tolist(), todo)), workers, progress) if todo else _empty_tables()
        tables = _concat([kept, parsed])
        page_ids = pd.Series(tables["pages"].column("page_id").to_numpy(), index=tables["pages"].column("path").to_pandas())
        stats["page_id"] = page_ids.reindex(stats["path"]).to_numpy().astype(np.int64)
        if cache:
            status += _save(cache_path, tables, parsed, stats, leaves, next_id + len(todo), old)
    t_parse = time.perf_counter()
    frames = _to_frames(tables)
    problems = frames["problems"]
    pages = frames["pages"]
    info = pages.set_index("page_id")[["tag", "package"]]
    problems = problems.join(info, on="page_id")
    problems = problems[["path", "tag", "package", "severity", "problem"]].sort_values(["path", "severity"], kind="stable").reset_index(drop=True)
    t_end = time.perf_counter()
    return CacheData(
        specs=frames["specs"],
        spec_stacks=frames["spec_stacks"],
        packages=pages,
        meta_stacks=frames["meta_stacks"],
        problems=problems,
        source=label,
        cache_status=status,
        timings={"cache_read_s": t_read - t0, "scan_s": t_scan - t_read, "parse_s": t_parse - t_scan, "frames_s": t_end - t_parse, "total_s": t_end - t0},
    )
