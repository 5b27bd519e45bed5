"""Spack mirrors (build caches) as a source: find the mirrors a ``--data`` value
names, fetch each one's index once, keep it in the local store, and turn a set
of mirrors into the Arrow tables of :mod:`dashboard.parse`.

What ``--data`` may name (see :func:`resolve`):

* one mirror: a folder or URL (``file://``, ``http(s)://``, ``s3://``) holding
  ``v3/manifests/index/index.manifest.json`` (Spack v1.x layout; the manifest
  points to the index blob at ``blobs/sha256/<2>/<checksum>``) or
  ``build_cache/index.json`` (+ ``index.json.hash``; Spack v0.x layout).  Its
  tag is the last part of its path, its stack ``root``;
* a set of mirrors, tags x stacks, as binaries.spack.io publishes them: its
  ``cache_spack_io_index.json`` (``{tag: [{"label": stack, "url": ...}]}``), or a
  YAML file ``{tag: {stack: url}}`` (optionally under a ``mirrors:`` key);
  relative URLs are relative to the file; a folder holding either file.

Freshness: one small request per mirror (the v3 index manifest, or v2
``index.json.hash``) decides whether the cached parse is still good; only a
changed index is downloaded (checked against its checksum) and parsed.  When a
mirror cannot be reached, its cached copy is used and a warning says so.  A
mirror that fails never stops the others: it becomes an ``error`` problem row.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from ..parse import DEPENDENCIES_SCHEMA, META_STACK_SCHEMA, PAGE_SCHEMA, PROBLEM_SCHEMA, SPEC_SCHEMA, STACK_SCHEMA
from .remote import FetchError, is_url, join, read, read_many, stat_key
from .spackdb import DEPENDENCY_SCHEMA, RECORD_SCHEMA, IndexError_, index_entry, parse_index, parse_manifest, tarball_size

SET_INDEX = "cache_spack_io_index.json"
SET_YAML = ("mirrors.yaml", "mirrors.yml")
V3_MANIFEST = "v3/manifests/index/index.manifest.json"
V2_INDEX = "build_cache/index.json"
#: Mirrors checked at once (each check is one small request).
CHECK_THREADS = 8
#: Format of the per-mirror cache folders; another value is re-fetched.
MIRROR_CACHE_FORMAT = 1


@dataclass(frozen=True)
class Mirror:
    """One build cache: ``url`` (local path or URL), shown as ``tag`` / ``stack``."""

    tag: str
    stack: str
    url: str


class MirrorError(Exception):
    """A mirror cannot be used (message names the mirror, the URL and why)."""


@dataclass
class MirrorLoad:
    """What loading a set of mirrors did (see :func:`read_mirrors`).

    Attributes:
        mirrors: mirrors named by the source.
        fetched: indexes downloaded and parsed (new or changed).
        unchanged: indexes whose cached parse was still current.
        offline: mirrors unreachable, shown from the cache.
        failed: mirrors that could not be loaded at all.
        bytes: index bytes downloaded.
        sizes_fetched: spec manifests downloaded for sizes.
        notes: one line per thing a user should know (offline, signatures not
            checked, sizes unavailable for v2 layout, ...).
    """

    mirrors: int = 0
    fetched: int = 0
    unchanged: int = 0
    offline: int = 0
    failed: int = 0
    bytes: int = 0
    sizes_fetched: int = 0
    notes: list[str] = field(default_factory=list)


# --- which mirrors a source names ----------------------------------------------------------


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] or url


def _relative(base_file: str, url: str) -> str:
    if is_url(url) or os.path.isabs(url):
        return url
    return join(base_file.rsplit("/", 1)[0] if is_url(base_file) else str(Path(base_file).parent), url)


def _set_from_text(path: str, text: bytes) -> list[Mirror]:
    """Mirrors listed by a ``cache_spack_io_index.json`` or mirror-set YAML file."""
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise MirrorError(f"{path}: not a mirror list ({str(exc)[:200]})") from None
    if isinstance(data, dict) and isinstance(data.get("mirrors"), dict):
        data = data["mirrors"]
    if not isinstance(data, dict) or not data:
        raise MirrorError(f"{path}: not a mirror list (expected {{tag: [{{label, url}}]}} or {{tag: {{stack: url}}}})")
    mirrors = []
    for tag, stacks in data.items():
        items = stacks.items() if isinstance(stacks, dict) else [
            (s.get("label"), s.get("url")) for s in stacks if isinstance(s, dict)
        ] if isinstance(stacks, list) else []
        for stack, url in items:
            if not stack or not isinstance(url, str):
                raise MirrorError(f"{path}: tag {tag!r} has an entry without a label or url")
            mirrors.append(Mirror(str(tag), str(stack), _relative(path, url)))
    return mirrors


def looks_like_mirror(source: str) -> bool:
    """Whether ``source`` names mirrors rather than pages: a URL, a ``.json``/``.yaml``
    file, or a folder holding a mirror layout or a mirror list."""
    if is_url(source) or source.endswith((".json", ".yaml", ".yml")):
        return True
    folder = Path(source)
    return folder.is_dir() and any(
        (folder / name).exists() for name in ("v3", "build_cache", SET_INDEX, *SET_YAML)
    )


def resolve(source: str, cache_root: Path | None = None) -> list[Mirror]:
    """The mirrors ``source`` names (see the module docstring).  A remote mirror
    list is kept under ``cache_root`` and used from there when unreachable.

    Raises:
        MirrorError: a mirror list that cannot be read or is malformed.
    """
    if source.endswith((".json", ".yaml", ".yml")) and _name(source) != "index.json":
        copy = _cache_dir(cache_root, source).with_suffix(".list") if cache_root is not None else None
        try:
            text = read(source)
        except FetchError as exc:
            if exc.kind != "unreachable" or copy is None or not copy.is_file():
                raise MirrorError(f"mirror list {source}: {exc.kind} ({exc.detail})") from None
            text = copy.read_bytes()  # offline: the list as last read (the mirrors say so one by one)
        mirrors = _set_from_text(source, text)
        if copy is not None and is_url(source):
            try:
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(text)
            except OSError:
                pass
        return mirrors
    for name in (SET_INDEX, *SET_YAML):
        candidate = join(source, name)
        if (Path(candidate).is_file() if not is_url(source) else False):
            return _set_from_text(candidate, read(candidate))
    return [Mirror(_name(source), "root", source)]


# --- one mirror: freshness, download, cache ------------------------------------------------


def _cache_dir(cache_root: Path, url: str) -> Path:
    return cache_root / "mirrors" / hashlib.sha256(url.encode()).hexdigest()[:24]


def _read_state(folder: Path) -> dict:
    try:
        state = json.loads((folder / "state.json").read_text())
        return state if state.get("format") == MIRROR_CACHE_FORMAT and (folder / "records.arrow").is_file() else {}
    except (OSError, ValueError):
        return {}


def _write_arrow(table: pa.Table, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_arrow(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def _save(folder: Path, state: dict, records: pa.Table, deps: pa.Table) -> None:
    """Write a mirror's cache folder atomically (a new folder swapped in)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        _write_arrow(records, tmp / "records.arrow")
        _write_arrow(deps, tmp / "deps.arrow")
        if (folder / "sizes.json").is_file():  # a hash names one binary: sizes stay valid
            shutil.copy(folder / "sizes.json", tmp / "sizes.json")
        (tmp / "state.json").write_text(json.dumps({**state, "format": MIRROR_CACHE_FORMAT}))
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class _Fetched:
    mirror: Mirror
    folder: Path
    state: dict
    status: str  # "fetched", "unchanged", "offline"
    records: pa.Table | None = None
    deps: pa.Table | None = None
    note: str = ""
    nbytes: int = 0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check(mirror: Mirror, folder: Path, state: dict, progress) -> _Fetched:
    """Fetch ``mirror``'s index unless the cached one (``state``) is current."""
    url = mirror.url
    order = ("v2", "v3") if state.get("layout") == "v2" else ("v3", "v2")
    signed, stamp = False, ""
    for layout in order:
        if layout == "v3":
            try:
                entries, signed = parse_manifest(read(join(url, V3_MANIFEST)))
            except FetchError as exc:
                if exc.kind == "missing":
                    continue
                raise
            entry = index_entry(entries)
            key = str(entry.get("checksum", ""))
            if state.get("key") == key:
                return _Fetched(mirror, folder, state, "unchanged")
            blob_url = join(url, "blobs", "sha256", key[:2], key)
            data = read(blob_url, progress)
            if _sha256(data) != key:
                raise MirrorError(f"checksum mismatch: {blob_url} does not hash to the manifest's sha256 {key}")
            nbytes = len(data)
            if str(entry.get("compression", "none")) == "gzip":
                data = gzip.decompress(data)
            break
        try:
            expected = read(join(url, V2_INDEX + ".hash")).decode(errors="replace").strip()
        except FetchError as exc:
            if exc.kind != "missing":
                raise
            expected = ""
        if expected and state.get("key") == expected:
            return _Fetched(mirror, folder, state, "unchanged")
        try:
            stamp = "" if expected else stat_key(join(url, V2_INDEX))  # no .hash: size and mtime/ETag
            if stamp and state.get("stamp") == stamp:
                return _Fetched(mirror, folder, state, "unchanged")
            data = read(join(url, V2_INDEX), progress)
        except FetchError as exc:
            if exc.kind == "missing":
                continue
            raise
        key = _sha256(data)
        if expected and key != expected:
            raise MirrorError(f"checksum mismatch: {join(url, V2_INDEX)} hashes to {key}, index.json.hash says {expected}")
        nbytes = len(data)
        break
    else:
        raise MirrorError(f"not a build cache: neither {V3_MANIFEST} nor {V2_INDEX} found")
    records, deps, info = parse_index(data)
    del data
    new_state = {"url": url, "layout": layout, "key": key, "fetched_at": time.time(), "signed": signed,
                 "db_version": info["db_version"], "records": info["records"], "skipped": info["skipped"], "bytes": nbytes, "stamp": stamp}
    return _Fetched(mirror, folder, new_state, "fetched", records, deps, nbytes=nbytes)


def fetch(mirror: Mirror, cache_root: Path | None, progress: Callable[[int, int | None], None] | None = None) -> _Fetched:
    """Bring one mirror's parsed index up to date (see the module docstring).

    Raises:
        MirrorError: the mirror cannot be used and no cached copy exists; the
            message names the mirror, the URL and the reason (unreachable,
            403/404, not a build cache, unknown database version, corrupt
            JSON, checksum mismatch).
    """
    folder = _cache_dir(cache_root, mirror.url) if cache_root is not None else Path(os.devnull)
    state = _read_state(folder) if cache_root is not None else {}
    where = f"mirror {mirror.tag}/{mirror.stack} ({mirror.url})"
    try:
        got = _check(mirror, folder, state, progress)
    except FetchError as exc:
        if exc.kind == "unreachable" and state:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(state.get("fetched_at", 0)))
            return _Fetched(mirror, folder, state, "offline", note=f"{where} is unreachable ({exc.detail[:120]}): showing the copy fetched {when}")
        raise MirrorError(f"{where}: {exc.url} {exc.kind} ({exc.detail})") from None
    except (IndexError_, MirrorError) as exc:
        raise MirrorError(f"{where}: {exc}") from None
    if got.status == "fetched" and cache_root is not None:
        try:
            _save(folder, got.state, got.records, got.deps)
        except OSError as exc:
            got.note = f"{where}: not cached ({exc})"
    return got


def _tables(got: _Fetched) -> tuple[pa.Table, pa.Table]:
    if got.records is None:
        got.records, got.deps = _read_arrow(got.folder / "records.arrow"), _read_arrow(got.folder / "deps.arrow")
    return got.records, got.deps


# --- sizes from v3 spec manifests ----------------------------------------------------------


def _spec_manifest_url(url: str, name: str, version: str, spec_hash: str) -> str:
    return join(url, "v3/manifests/spec", name, f"{name}-{version}-{spec_hash}.spec.manifest.json")


def fetch_sizes(got: _Fetched, records: pa.Table, known: dict[str, int | None] | None = None) -> tuple[dict[str, int | None], int]:
    """Binary sizes (bytes) of ``records`` (binaries of one v3 mirror) from their
    spec manifests, fetched concurrently in bounded batches and cached in the
    mirror's folder after each batch, so an interrupted run resumes.

    ``known`` sizes (of the same binaries in other mirrors of this load) are
    not fetched again.

    Returns:
        ``({hash: bytes or None}, manifests fetched now)``; ``None`` where the
        manifest is missing or has no tarball entry.
    """
    path = got.folder / "sizes.json"
    try:
        sizes = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        sizes = {}
    wanted = [
        (h, _spec_manifest_url(got.mirror.url, n, v, h))
        for h, n, v in zip(*(records.column(c).to_pylist() for c in ("hash", "package", "version")))
        if h not in sizes and (known is None or known.get(h) is None)
    ]
    if known:
        sizes.update({h: known[h] for h in records.column("hash").to_pylist() if h not in sizes and known.get(h) is not None})
    fetched = 0
    for start in range(0, len(wanted), 512):
        chunk = wanted[start:start + 512]
        got_bytes = read_many([u for _, u in chunk])
        for spec_hash, url in chunk:
            value = got_bytes[url]
            try:
                sizes[spec_hash] = tarball_size(parse_manifest(value)[0]) if isinstance(value, bytes) else None
            except IndexError_:
                sizes[spec_hash] = None
        fetched += len(chunk)
        try:
            path.write_text(json.dumps(sizes))
        except OSError:
            pass
    return sizes, fetched


# --- a set of mirrors -> the dashboard's tables ------------------------------------------


def _problem_rows(problems: list[tuple[str, str, str, str]]) -> pa.Table:
    """``(path, tag, severity, problem)`` -> a table with :data:`PROBLEM_SCHEMA` plus ``tag``."""
    cols = list(zip(*problems)) if problems else [[], [], [], []]
    return pa.table(
        {"path": pa.array(cols[0], pa.string()), "tag": pa.array(cols[1], pa.string()),
         "severity": pa.array(cols[2], pa.string()), "problem": pa.array(cols[3], pa.string())}
    )


def combine(parts: list[tuple[Mirror, pa.Table, pa.Table, dict | None]]) -> dict[str, pa.Table]:
    """One table set (as :mod:`dashboard.parse` makes them) from the parsed
    indexes of a set of mirrors: ``(mirror, records, dependencies, sizes)``.

    A spec (tag, hash) in several mirrors of its tag is one row whose stacks
    are those mirrors' labels, sorted; records that are not binaries
    (``in_buildcache`` false) are not rows but stay resolvable in
    ``dependencies``.  One ``pages`` row per (tag, package), its ``path`` the
    first mirror URL it was found in.

    Returns:
        ``specs``, ``spec_stacks``, ``pages``, ``meta_stacks`` (empty),
        ``problems`` (empty: mirror problems are reported by :func:`read_mirrors`)
        and ``dependencies`` (:data:`DEPENDENCIES_SCHEMA`).
    """
    pieces, dep_pieces = [], []
    for mirror, records, deps, sizes in parts:
        binaries = records.filter(records.column("in_buildcache"))
        n = binaries.num_rows
        size = pa.array([sizes.get(h) for h in binaries.column("hash").to_pylist()], pa.int64()) if sizes else pa.nulls(n, pa.int64())
        pieces.append(
            binaries.drop_columns(["in_buildcache"]).append_column("size", size)
            .append_column("tag", pa.array([mirror.tag] * n, pa.string()))
            .append_column("stack", pa.array([mirror.stack] * n, pa.string()))
            .append_column("url", pa.array([mirror.url] * n, pa.string()))
        )
        dep_pieces.append(deps.append_column("tag", pa.array([mirror.tag] * deps.num_rows, pa.string())))
    schema = pa.schema([*[f for f in RECORD_SCHEMA if f.name != "in_buildcache"], ("size", pa.int64()), ("tag", pa.string()), ("stack", pa.string()), ("url", pa.string())])
    rows = pa.concat_tables(pieces) if pieces else schema.empty_table()
    rows = rows.sort_by([("tag", "ascending"), ("package", "ascending"), ("hash", "ascending"), ("stack", "ascending")])
    firsts = [(c, "first") for c in ("package", "version", "compiler", "os", "platform", "target", "variants", "n_deps", "size", "url")]
    grouped = rows.group_by(["tag", "hash"], use_threads=False).aggregate([*firsts, ("stack", "list")])
    grouped = grouped.rename_columns([n.removesuffix("_first").removesuffix("_list") for n in grouped.column_names])
    grouped = grouped.sort_by([("tag", "ascending"), ("package", "ascending"), ("hash", "ascending")])
    pages = grouped.select(["tag", "package", "url"]).group_by(["tag", "package"], use_threads=False).aggregate([("url", "first")])
    pages = pages.sort_by([("tag", "ascending"), ("package", "ascending")])
    n_pages = pages.num_rows
    page_key = pc.binary_join_element_wise(pages.column("tag"), pages.column("package"), "\x00")
    spec_key = pc.binary_join_element_wise(grouped.column("tag"), grouped.column("package"), "\x00")
    page_id = pc.index_in(spec_key, value_set=page_key).cast(pa.int32())
    counts = pc.value_counts(page_id)
    num = {d["values"]: d["counts"] for d in counts.to_pylist()}
    stacks = grouped.column("stack")
    specs = pa.table(
        {
            "page_id": page_id,
            "hash": grouped.column("hash"),
            "version": grouped.column("version"),
            "compiler": grouped.column("compiler"),
            "os": grouped.column("os"),
            "platform": grouped.column("platform"),
            "target": grouped.column("target"),
            "variants": grouped.column("variants"),
            "stacks": pc.binary_join(stacks, ", "),
            "n_stacks": pc.list_value_length(stacks).cast(pa.int16()),
            "size": grouped.column("size"),
            "n_deps": grouped.column("n_deps"),
        },
        schema=SPEC_SCHEMA,
    )
    spec_stacks = pa.table(
        {"page_id": pc.take(page_id, pc.list_parent_indices(stacks)), "stack": pc.list_flatten(stacks)},
        schema=STACK_SCHEMA,
    )
    empty = {name: pa.nulls(n_pages, f.type) for name, f in zip(PAGE_SCHEMA.names, PAGE_SCHEMA) if name.startswith("meta_") or name == "error"}
    pages_table = pa.table(
        {
            "page_id": pa.array(range(n_pages), pa.int32()),
            "path": pages.column("url_first"),
            "tag": pages.column("tag"),
            "package": pages.column("package"),
            "meta_num_specs": empty["meta_num_specs"],
            "num_specs": pa.array([num.get(i, 0) for i in range(n_pages)], pa.int64()),
            **{name: empty[name] for name in PAGE_SCHEMA.names if name.startswith("meta_") and name != "meta_num_specs"},
            "error": empty["error"],
        },
        schema=PAGE_SCHEMA,
    )
    deps = pa.concat_tables(dep_pieces) if dep_pieces else DEPENDENCY_SCHEMA.append(pa.field("tag", pa.string())).empty_table()
    deps = deps.group_by(["tag", "hash", "dep_hash"], use_threads=False).aggregate([("dep_name", "first"), ("deptypes", "first"), ("virtuals", "first")])
    dep_index = pc.index_in(
        pc.binary_join_element_wise(deps.column("tag"), deps.column("hash"), "\x00"),
        value_set=pc.binary_join_element_wise(grouped.column("tag"), grouped.column("hash"), "\x00"),
    )
    deps = deps.filter(pc.is_valid(dep_index))  # edges of binaries only
    dep_index = dep_index.drop_null()
    dependencies = pa.table(
        {
            "page_id": pc.take(page_id, dep_index),
            "hash": deps.column("hash"),
            "dep_hash": deps.column("dep_hash"),
            "dep_name": deps.column("dep_name_first"),
            "deptypes": deps.column("deptypes_first"),
            "virtuals": deps.column("virtuals_first"),
        },
        schema=DEPENDENCIES_SCHEMA,
    )
    return {
        "specs": specs,
        "spec_stacks": spec_stacks,
        "pages": pages_table,
        "meta_stacks": META_STACK_SCHEMA.empty_table(),
        "problems": PROBLEM_SCHEMA.empty_table(),
        "dependencies": dependencies,
    }


def read_mirrors(
    mirrors: list[Mirror],
    cache_root: Path | None,
    *,
    sizes: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> tuple[dict[str, pa.Table], pa.Table, MirrorLoad]:
    """Fetch (or reuse) every mirror's index and combine them (:func:`combine`).

    Args:
        mirrors: from :func:`resolve`.
        cache_root: the store folder (``None``: nothing cached).
        sizes: also read each binary's size from its v3 spec manifest.
        progress: called as ``progress(what, done, total)`` with ``what`` one
            of ``"mirrors"`` (mirrors checked), ``"bytes"`` (index bytes
            downloaded) or ``"sizes"`` (spec manifests read).

    Returns:
        ``(tables, problems, report)``: the tables; one problem row per
        failed, offline or odd mirror (``path`` = its URL, ``tag``,
        ``severity``, ``problem``); what happened (:class:`MirrorLoad`).
    """
    report = MirrorLoad(mirrors=len(mirrors))
    problems: list[tuple[str, str, str, str]] = []
    done = 0

    def one(mirror: Mirror):
        on_bytes = (lambda n, total: progress("bytes", n, total)) if progress else None
        try:
            return fetch(mirror, cache_root, on_bytes)
        except MirrorError as exc:
            return exc

    results = []
    with ThreadPoolExecutor(max_workers=min(CHECK_THREADS, max(len(mirrors), 1))) as pool:
        for mirror, got in zip(mirrors, pool.map(one, mirrors)):
            done += 1
            if progress:
                progress("mirrors", done, len(mirrors))
            if isinstance(got, MirrorError):
                report.failed += 1
                problems.append((mirror.url, mirror.tag, "error", str(got)))
                continue
            results.append(got)
    parts, known_sizes = [], {}
    for got in results:
        report.fetched += got.status == "fetched"
        report.unchanged += got.status == "unchanged"
        report.offline += got.status == "offline"
        report.bytes += got.nbytes
        where = f"mirror {got.mirror.tag}/{got.mirror.stack} ({got.mirror.url})"
        if got.note:
            problems.append((got.mirror.url, got.mirror.tag, "warning", got.note))
        if got.state.get("skipped"):
            problems.append((got.mirror.url, got.mirror.tag, "warning", f"{where}: {got.state['skipped']} index record(s) could not be read and were skipped"))
        if got.state.get("signed") and not any("signature" in n for n in report.notes):
            report.notes.append("index manifests are PGP-signed; signatures were not checked")
        try:
            records, deps = _tables(got)
        except (OSError, pa.ArrowInvalid) as exc:
            report.failed += 1
            problems.append((got.mirror.url, got.mirror.tag, "error", f"{where}: cached copy unreadable ({exc})"))
            continue
        spec_sizes = None
        if sizes and got.state.get("layout") == "v3" and cache_root is not None:
            spec_sizes, fetched = fetch_sizes(got, records.filter(records.column("in_buildcache")), known_sizes)
            known_sizes.update(spec_sizes)
            report.sizes_fetched += fetched
            if progress:
                progress("sizes", report.sizes_fetched, None)
        elif sizes and got.state.get("layout") == "v2":
            note = "sizes are read from v3 spec manifests; v2 mirrors show them as unknown"
            if note not in report.notes:
                report.notes.append(note)
        parts.append((got.mirror, records, deps, spec_sizes))
    if report.offline:
        report.notes.append(f"offline: {report.offline} mirror(s) unreachable, shown from the local cache")
    return combine(parts), _problem_rows(problems), report
