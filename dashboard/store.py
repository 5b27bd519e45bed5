"""The store: a local copy of what a load parsed, so the next load re-reads only
what changed.  One on-disk format for every kind of source: Arrow IPC files
(:func:`write_arrow`, read back memory-mapped by :func:`read_arrow`) beside a
small JSON file that names the format version (:data:`STORE_FORMAT`); folders
are replaced whole (:func:`swap_in`) and a damaged one is moved aside
(:func:`move_aside`) and rebuilt.  A pages tree keeps segments here (below); a
mirror keeps its parsed index (:mod:`dashboard.sources.mirror_fetch`) and a set
of mirrors its combined tables (:mod:`dashboard.sources.mirror`).

Layout of a pages store folder: ``manifest.json`` names the source it was written
for, its segments (each a set of :data:`dashboard.core.schema.TABLES` Arrow files
written by one load) and the current ``stats`` (every page's path, size, mtime
and page id) and ``folders`` (inner folders with their mtime and what the scan
skipped in them).  :func:`open_store` checks everything it reads and refuses a
damaged store (the caller rebuilds it); :func:`save_store` appends a segment
or, once dead rows pile up, rewrites the store whole, swapping folders so a
reader sees the old store or the new.  "Store" here is this local copy; "build
cache" is Spack's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.config import STORE_ENV
from dashboard.frames import DICT_COLUMNS
from dashboard.core.schema import SCHEMAS, TABLES, concat_tables

#: Version of every store folder (a pages store's manifest, a mirror's state, a mirror
#: set's key); a folder of another version is rebuilt.  9: one format (Arrow IPC) for
#: every source; 8: pages in Parquet, mirrors in Arrow IPC.
STORE_FORMAT = 9


#: The cache is rewritten whole when it would have more segments than this ...
MAX_SEGMENTS = 8


#: ... or more dead spec rows (of changed or removed pages) than this fraction of live ones.
MAX_DEAD_FRACTION = 0.1


#: Most pages a store may claim (page ids are dense; a larger ``next_id`` is damage).
MAX_PAGE_IDS = 2**31 - 1


def default_store_dir(source_label: str) -> Path:
    """Where the store for ``source_label`` lives.

    ``$SPACK_CACHE_DASHBOARD_CACHE`` or ``$XDG_CACHE_HOME/spack-cache-dashboard``
    (default ``~/.cache/...``), in a sub-folder named by a hash of the source.
    """
    key = hashlib.sha256(source_label.encode()).hexdigest()[:16]
    return store_base() / key


def store_base() -> Path:
    """The folder holding every store: ``$SPACK_CACHE_DASHBOARD_CACHE``, else
    ``$XDG_CACHE_HOME/spack-cache-dashboard`` (default ``~/.cache/...``)."""
    return Path(os.environ.get(STORE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "spack-cache-dashboard"))


def write_arrow(table: pa.Table, path: Path) -> None:
    """Write ``table`` as an Arrow IPC file, the store's one table format (read back
    memory-mapped by :func:`read_arrow`; a dictionary column needs one dictionary).

    Raises:
        OSError: it could not be written.
    """
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_arrow(path: Path) -> pa.Table:
    """An Arrow IPC file written by :func:`write_arrow`, memory-mapped (columns are
    paged in as they are used; dictionary columns stay dictionaries).

    Raises:
        OSError, pyarrow.ArrowInvalid: missing or damaged.
    """
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def swap_in(folder: Path, write: Callable[[Path], None]) -> None:
    """Write a store folder atomically: ``write(tmp)`` fills a new folder that then
    replaces ``folder`` (a reader sees the old one or the new one).

    Raises:
        OSError: it could not be written (``folder`` is left as it was).
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        write(tmp)
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def move_aside(folder: Path) -> Path | None:
    """Move a damaged store folder to ``<folder>.damaged`` (replacing an older one) so
    it can be looked at; returns where it went, ``None`` if it could not be moved
    (then it is removed)."""
    aside = folder.with_name(folder.name + ".damaged")
    try:
        shutil.rmtree(aside, ignore_errors=True)
        folder.rename(aside)
        return aside
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None


class CorruptStore(Exception):
    """A cache table does not match its manifest or cannot be read."""


class Store:
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
                    table = read_arrow(cache_dir / f"{segment['name']}.{name}.arrow")
                    plain = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema])
                    if table.num_rows != segment["rows"][name] or not plain.equals(SCHEMAS[name], check_metadata=False):
                        raise CorruptStore(f"cache table {segment['name']}.{name} does not match its manifest")
                    part[name] = table
                if (pc.sum(part["specs"].column("n_stacks")).as_py() or 0) != part["spec_stacks"].num_rows:
                    raise CorruptStore(f"cache segment {segment['name']}: spec_stacks do not match the specs' stack counts")
                next_id = self.manifest["next_id"]
                for name in TABLES:
                    bounds = pc.min_max(part[name].column("page_id")).as_py()
                    if part[name].num_rows and (bounds["min"] < 0 or bounds["max"] >= next_id):
                        raise CorruptStore(f"cache table {segment['name']}.{name}: page ids outside 0..{next_id - 1}")
                parts.append(part)
            return concat_tables(parts) if len(parts) != 1 else parts[0]
        except CorruptStore:
            raise
        except Exception as exc:  # noqa: BLE001 - any damage means: rebuild
            raise CorruptStore(f"corrupt cache ({type(exc).__name__}: {exc})") from exc

    def segments(self) -> dict[str, pa.Table]:
        """Every row of every segment, live or dead (waits for the read, then
        stops the background thread: parsing may fork processes next).

        Raises:
            CorruptStore: a segment file is unreadable or does not match the manifest.
        """
        try:
            return self._future.result()
        finally:
            self._pool.shutdown(wait=True)

    def keep(self, keep_ids: np.ndarray, next_id: int) -> Callable[[], dict[str, pa.Table]]:
        """Start dropping every row but those of the pages ``keep_ids``, in the
        background thread after the read (Arrow filters without the GIL, so
        this overlaps parsing in the caller's thread); returns a function that
        waits for the result (and raises :class:`CorruptStore` as
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


#: Threads that filter the store's columns (:func:`_keep_pages`).
FILTER_THREADS = max(2, min(4, os.cpu_count() or 1))


def _keep_pages(tables: dict[str, pa.Table], keep_ids: np.ndarray, next_id: int) -> dict[str, pa.Table]:
    """Rows of the pages ``keep_ids`` only (a table is returned as is when all stay).

    The columns are filtered in :data:`FILTER_THREADS` threads (Arrow filters without
    the GIL): most of a filter's time is the kernel handing out the new memory, which
    goes on in parallel. 2M spec rows, 1% of the pages dropped, fresh process: ~150 ms
    against ~300 ms one table at a time (``Table.filter``)."""
    out = {}
    with ThreadPoolExecutor(max_workers=FILTER_THREADS, thread_name_prefix="store-filter") as pool:
        filtered = {}
        for name in TABLES:
            table = tables[name]
            mask = _alive(table.column("page_id").to_numpy(), keep_ids, next_id)
            if mask.all():
                out[name] = table
            else:
                selection = pa.array(mask)
                filtered[name] = [pool.submit(column.filter, selection) for column in table.columns]
        for name, columns in filtered.items():
            out[name] = pa.Table.from_arrays([column.result() for column in columns], schema=tables[name].schema)
    out = {name: out[name] for name in TABLES}
    if out["pages"].num_rows != len(keep_ids):  # every kept page has exactly one row
        raise CorruptStore(f"the store holds {out['pages'].num_rows} rows for {len(keep_ids)} unchanged pages")
    return out


def open_store(cache_dir: Path, source: str) -> tuple[Store | None, str]:
    """Open a cache folder; ``(None, reason)`` if it is missing or not trustworthy.

    Layout: ``manifest.json`` names the ``source`` it was written for, lists
    segments (each a set of :data:`TABLES` Arrow files written by one load)
    and the current ``stats``/``folders`` files.  Rows of pages that changed or
    vanished since their segment was written are dead: the live pages are
    those in ``stats``.  The segments are checked as they are read, see
    :meth:`Store.segments`.
    """
    manifest_path = cache_dir / "manifest.json"
    if not manifest_path.exists():
        return None, "no cache"
    try:
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest, dict):
            return None, "corrupt cache (manifest is not a mapping)"
        if manifest.get("format") != STORE_FORMAT:
            return None, f"cache format {manifest.get('format')!r} != {STORE_FORMAT!r}"
        if manifest.get("source") != source:
            return None, "cache written for another source"
        problem = _manifest_problem(manifest)
        if problem:
            return None, f"corrupt cache ({problem})"
        stats = read_arrow(cache_dir / manifest["stats"]).to_pandas()
        folders = read_arrow(cache_dir / manifest["folders"]).to_pandas()
        if len(stats) != manifest["rows"]["stats"] or len(folders) != manifest["rows"]["folders"]:
            return None, "cache stats do not match the manifest"
        problem = _stats_problem(stats, folders, manifest["next_id"])
        if problem:
            return None, f"corrupt cache ({problem})"
        return Store(cache_dir, manifest, stats, folders), "ok"
    except Exception as exc:  # noqa: BLE001 - any damage: rebuild, never trust and never crash
        return None, f"corrupt cache ({type(exc).__name__}: {exc})"


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
    for col in DICT_COLUMNS.get(name, []):  # one sorted dictionary a column: read back as sorted categoricals
        table = table.set_column(table.schema.get_field_index(col), col, _sorted_dictionary(table.column(col)))
    write_arrow(table, path)


def _write_store(
    cache_dir: Path,
    tables: dict[str, pa.Table],
    parsed: dict[str, pa.Table] | None,
    stats: pd.DataFrame,
    folders: pd.DataFrame,
    next_id: int,
    old: "Store | None",
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
                    _write_table(parsed[name], name, cache_dir / f"s{gen}.{name}.arrow")
                segments.append({"name": f"s{gen}", "rows": {name: parsed[name].num_rows for name in TABLES}})
            _write_manifest(cache_dir, segments, stats, folders, next_id, gen, source)
            for key in ("stats", "folders"):
                (cache_dir / old.manifest[key]).unlink(missing_ok=True)
            return f"cache: segment added ({new_rows:,} spec rows)" if added else ""

    def write(tmp: Path) -> None:
        for name in TABLES:
            _write_table(tables[name], name, tmp / f"s0.{name}.arrow")
        _write_manifest(tmp, [{"name": "s0", "rows": {name: tables[name].num_rows for name in TABLES}}], stats, folders, next_id, 0, source)

    swap_in(cache_dir, write)
    return "cache: rewritten" if old is not None else ""


def _write_manifest(folder: Path, segments: list[dict], stats: pd.DataFrame, folders: pd.DataFrame, next_id: int, gen: int, source: str) -> None:
    write_arrow(pa.Table.from_pandas(stats, preserve_index=False), folder / f"stats.{gen}.arrow")
    write_arrow(pa.Table.from_pandas(folders, preserve_index=False), folder / f"folders.{gen}.arrow")
    manifest = {
        "format": STORE_FORMAT,
        "source": source,
        "generation": gen,
        "next_id": int(next_id),
        "segments": segments,
        "stats": f"stats.{gen}.arrow",
        "folders": f"folders.{gen}.arrow",
        "rows": {"stats": len(stats), "folders": len(folders)},
    }
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, folder / "manifest.json")


def save_store(cache_dir: Path, *args) -> str:
    """:func:`_write_store`, turning a failure into a note for the load status."""
    try:
        return _write_store(cache_dir, *args)
    except OSError as exc:
        return f"cache not written ({exc})"


def _sorted_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` as one dictionary array whose dictionary is sorted."""
    plain = column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
    plain = plain.combine_chunks()
    values = pc.unique(plain).drop_null().sort()  # nulls stay nulls, not a null value
    return pa.chunked_array([pa.DictionaryArray.from_arrays(pc.index_in(plain, value_set=values), values)])
