"""Spack mirrors (build caches) as a source: find the mirrors a ``--data`` value
names, fetch each one's index once, keep it in the local store, and turn a set
of mirrors into the Arrow tables of :mod:`dashboard.core.schema` (:class:`MirrorSource`).

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

import hashlib
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from dashboard.core.schema import DEPENDENCIES_SCHEMA, META_STACK_SCHEMA, NODE_SCHEMA, PAGE_SCHEMA, PROBLEM_SCHEMA, SCHEMAS, SPEC_SCHEMA, STACK_SCHEMA
from dashboard.frames import to_frames
from dashboard.model import CacheData, LoadReport
from dashboard.store import STORE_FORMAT, move_aside, read_arrow, store_base, swap_in, write_arrow
from dashboard.sources import limits
from dashboard.sources.base import LoadOptions, Source
from dashboard.sources.mirror_fetch import Mirror, MirrorError, fetch, fetch_sizes, previous, tables
from dashboard.sources.remote import FetchError, is_url, join, read
from dashboard.sources.spackdb import DEPENDENCY_SCHEMA, RECORD_SCHEMA

SET_INDEX = "cache_spack_io_index.json"
SET_YAML = ("mirrors.yaml", "mirrors.yml")
#: Mirrors checked at once (each check is one small request).
CHECK_THREADS = 8
#: Tables of a combined mirror set (see :func:`combine`).
COMBINED_TABLES = ("specs", "spec_stacks", "pages", "meta_stacks", "problems", "dependencies", "nodes")


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


def _spack_mirror_url(entry) -> str | None:
    """The fetch URL of one entry of Spack's ``mirrors.yaml`` (``name: URL``, or
    ``name: {url: URL}`` / ``name: {fetch: URL or {url: URL}, push: ...}``), else ``None``."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        fetch = entry.get("fetch", entry.get("url"))
        if isinstance(fetch, dict):
            fetch = fetch.get("url")
        if isinstance(fetch, str) and set(entry) <= {"url", "fetch", "push", "source", "binary", "signed",
                                                     "access_pair", "access_token", "profile", "endpoint_url",
                                                     "autopush", "view", "binary_index_only"}:
            return fetch
    return None


def _spack_access_pair(entry) -> tuple[str, str] | None:
    """``(id, secret)`` of one entry of Spack's ``mirrors.yaml``, as Spack's
    ``Mirror.get_access_pair("fetch")`` reads it: ``access_pair: {id or id_variable,
    secret_variable}`` (the secret always from the environment), or the deprecated
    ``[id, secret]``; under ``fetch:`` or at the top of the entry; else ``None``."""
    if not isinstance(entry, dict):
        return None
    fetch = entry.get("fetch")
    pair = fetch["access_pair"] if isinstance(fetch, dict) and "access_pair" in fetch else entry.get("access_pair")
    if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(v, str) and v for v in pair):
        return pair[0], pair[1]
    if isinstance(pair, dict) and isinstance(pair.get("secret_variable"), str):
        id_ = os.environ.get(pair["id_variable"]) if isinstance(pair.get("id_variable"), str) else pair.get("id")
        secret = os.environ.get(pair["secret_variable"])
        return (id_, secret) if isinstance(id_, str) and id_ and secret else None
    return None


def _set_from_text(path: str, text: bytes) -> list[Mirror]:
    """Mirrors listed by a ``cache_spack_io_index.json``, a mirror-set YAML file
    (``{tag: {stack: url}}`` or ``{tag: [{label, url}]}``), or Spack's own
    ``mirrors.yaml`` (``mirrors: {name: url}``: each mirror a tag with one stack, root)."""
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        raise MirrorError(f"{path}: not a mirror list ({str(exc)[:200]})") from None
    if isinstance(data, dict) and isinstance(data.get("mirrors"), dict):
        data = data["mirrors"]
    if not isinstance(data, dict) or not data:
        raise MirrorError(f"{path}: not a mirror list (expected {{tag: [{{label, url}}]}} or {{tag: {{stack: url}}}})")
    mirrors = []
    for tag, stacks in data.items():
        spack_entry, access = _spack_mirror_url(stacks), None
        if spack_entry is not None:  # Spack's mirrors.yaml: one mirror per name
            items, access = [("root", spack_entry)], _spack_access_pair(stacks)
        elif isinstance(stacks, dict):
            items = stacks.items()
        elif isinstance(stacks, list):
            items = [(s.get("label"), s.get("url")) for s in stacks if isinstance(s, dict)]
        else:
            raise MirrorError(f"{path}: tag {tag!r} is neither a URL, a Spack mirror entry, nor a list of stacks")
        for stack, url in items:
            if not stack or not isinstance(url, str):
                raise MirrorError(f"{path}: tag {tag!r} has an entry without a label or url")
            mirrors.append(Mirror(str(tag), str(stack), _relative(path, url), access))
    return mirrors


def _list_copy(cache_root: Path, source: str) -> Path:
    """Where a remote mirror list is kept (used when it cannot be reached)."""
    return cache_root / "mirror-lists" / hashlib.sha256(source.encode()).hexdigest()[:24]


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
        copy = _list_copy(cache_root, source).with_suffix(".list") if cache_root is not None else None
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


# --- a set of mirrors -> the dashboard's tables ------------------------------------------


def _problem_rows(problems: list[tuple[str, str, str, str]]) -> pa.Table:
    """``(path, tag, severity, problem)`` -> a table with :data:`PROBLEM_SCHEMA` plus ``tag``."""
    cols = list(zip(*problems)) if problems else [[], [], [], []]
    return pa.table(
        {"path": pa.array(cols[0], pa.string()), "tag": pa.array(cols[1], pa.string()),
         "severity": pa.array(cols[2], pa.string()), "problem": pa.array(cols[3], pa.string())}
    )


def combine(parts: list[tuple[Mirror, pa.Table, pa.Table, dict | None]]) -> dict[str, pa.Table]:
    """One table set (as :mod:`dashboard.sources.parse` makes them) from the parsed
    indexes of a set of mirrors: ``(mirror, records, dependencies, sizes)``.

    A spec (tag, hash) in several mirrors of its tag is one row whose stacks
    are those mirrors' labels, sorted; records that are not binaries
    (``in_buildcache`` false) are not rows but stay resolvable in
    ``dependencies``.  One ``pages`` row per (tag, package), its ``path`` the
    first mirror URL it was found in.

    Returns:
        ``specs``, ``spec_stacks``, ``pages``, ``meta_stacks`` (empty),
        ``problems`` (empty: mirror problems are reported by :func:`read_mirrors`)
        ``dependencies`` (:data:`DEPENDENCIES_SCHEMA`) and ``nodes``
        (:data:`NODE_SCHEMA`: the records that are not binaries).
    """
    pieces, dep_pieces, node_pieces = [], [], []
    for mirror, records, deps, sizes in parts:
        others = records.filter(pc.invert(records.column("in_buildcache")))
        node_pieces.append(pa.table(
            {"tag": pa.array([mirror.tag] * others.num_rows, pa.string()), "hash": others.column("hash").cast(pa.string()),
             "package": others.column("package").cast(pa.string()),
             **{n: others.column(n).cast(pa.string()) for n in ("version", "compiler", "os", "platform", "target", "variants")},
             "external": others.column("external"), "package_hash": others.column("package_hash").cast(pa.string())},
            schema=NODE_SCHEMA))
        binaries = records.filter(records.column("in_buildcache"))
        n = binaries.num_rows
        size = pa.array([sizes.get(h) for h in binaries.column("hash").to_pylist()], pa.int64()) if sizes else pa.nulls(n, pa.int64())
        pieces.append(
            binaries.drop_columns(["in_buildcache", "external"]).append_column("size", size)
            .append_column("tag", pa.array([mirror.tag] * n, pa.string()))
            .append_column("stack", pa.array([mirror.stack] * n, pa.string()))
            .append_column("url", pa.array([mirror.url] * n, pa.string()))
        )
        dep_pieces.append(deps.append_column("tag", pa.array([mirror.tag] * deps.num_rows, pa.string())))
    schema = pa.schema([*[f for f in RECORD_SCHEMA if f.name not in ("in_buildcache", "external")], ("size", pa.int64()), ("tag", pa.string()), ("stack", pa.string()), ("url", pa.string())])
    rows = pa.concat_tables(pieces) if pieces else schema.empty_table()
    rows = rows.sort_by([("tag", "ascending"), ("package", "ascending"), ("hash", "ascending"), ("stack", "ascending")])
    firsts = [(c, "first") for c in ("package", "version", "compiler", "os", "platform", "target", "variants", "n_deps", "package_hash", "size", "url")]
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
            "package_hash": grouped.column("package_hash"),
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
    nodes = pa.concat_tables(node_pieces) if node_pieces else NODE_SCHEMA.empty_table()
    nodes = nodes.group_by(["tag", "hash"], use_threads=False).aggregate(
        [(n, "first") for n in NODE_SCHEMA.names if n not in ("tag", "hash")])
    nodes = nodes.rename_columns([n.removesuffix("_first") for n in nodes.column_names]).select(NODE_SCHEMA.names).cast(NODE_SCHEMA)
    return {
        "specs": specs,
        "spec_stacks": spec_stacks,
        "pages": pages_table,
        "meta_stacks": META_STACK_SCHEMA.empty_table(),
        "problems": PROBLEM_SCHEMA.empty_table(),
        "dependencies": dependencies,
        "nodes": nodes.sort_by([("tag", "ascending"), ("hash", "ascending")]),
    }


def _with_deadline(mirrors: list[Mirror], one: Callable[[Mirror], object], threads: int):
    """``(mirror, one(mirror))`` in order, ``threads`` mirrors at a time on daemon
    threads; a mirror still loading :func:`limits.deadline` seconds after it started
    gives a :class:`MirrorError` naming the deadline instead (its thread is left to
    end on its own request timeouts; being a daemon, it never holds up an exit, so
    Ctrl-C or SIGTERM stops a load at once)."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    started: list[float | None] = [None] * len(mirrors)
    results: list[object] = [None] * len(mirrors)
    finished = [threading.Event() for _ in mirrors]
    for i in range(len(mirrors)):
        todo.put(i)

    def work() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            started[i] = time.monotonic()
            results[i] = one(mirrors[i])
            finished[i].set()

    for _ in range(min(threads, len(mirrors))):
        threading.Thread(target=work, daemon=True, name="mirror-fetch").start()
    deadline = limits.deadline()
    for i, mirror in enumerate(mirrors):
        while not finished[i].wait(0.1):
            if started[i] is not None and time.monotonic() - started[i] > deadline:
                results[i] = MirrorError(f"mirror {mirror.tag}/{mirror.stack} ({mirror.url}): still loading after the "
                                         f"{deadline:g} s deadline (${limits.ENV_DEADLINE}): skipped")
                threading.Thread(target=work, daemon=True, name="mirror-fetch").start()  # the stuck one's place
                break
        yield mirror, results[i]


def read_mirrors(
    mirrors: list[Mirror],
    cache_root: Path | None,
    *,
    label: str = "",
    sizes: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> tuple[dict[str, pa.Table], pa.Table, MirrorLoad]:
    """Fetch (or reuse) every mirror's index and combine them (:func:`combine`).

    Args:
        mirrors: from :func:`resolve`.
        cache_root: the store folder (``None``: nothing cached).
        label: names the set (the ``--data`` text): its combined tables are
            stored under it, and read back whole while no index changed.
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
        except Exception as exc:  # noqa: BLE001 - one bad mirror never stops the others
            return MirrorError(f"mirror {mirror.tag}/{mirror.stack} ({mirror.url}): unreadable ({type(exc).__name__}: {str(exc)[:200]})")

    results = []
    # remote checks wait on the network: several at once; local ones are a stat each
    remote = any(is_url(m.url) and not m.url.startswith("file://") for m in mirrors)
    for mirror, got in _with_deadline(mirrors, one, min(CHECK_THREADS, max(len(mirrors), 1)) if remote else 1):
        done += 1
        if progress:
            progress("mirrors", done, len(mirrors))
        if isinstance(got, MirrorError):
            report.failed += 1
            problems.append((mirror.url, mirror.tag, "error", str(got)))
            continue
        results.append(got)
    set_key = hashlib.sha256(json.dumps(
        [[g.mirror.tag, g.mirror.stack, g.mirror.url, g.state.get("key"), g.state.get("stamp")] for g in results] + [sizes]
    ).encode()).hexdigest()
    combined, damage = _read_set(cache_root, label, set_key) if cache_root is not None and all(g.status != "fetched" for g in results) else (None, "")
    if damage:
        problems.append((label, "", "warning", damage))
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
        if got.state.get("replaced"):
            problems.append((got.mirror.url, got.mirror.tag, "warning", f"{where}: {got.state['replaced']} text escape(s) in the index were lone "
                             "UTF-16 surrogates (JSON allows them, UTF-8 cannot hold them): read as U+FFFD"))
        if got.state.get("signed") and not any("signature" in n for n in report.notes):
            report.notes.append("index manifests are PGP-signed; signatures were not checked")
        if combined is not None:
            continue  # the combined tables of exactly these indexes are in the store
        try:
            records, deps = tables(got)
        except (OSError, pa.ArrowInvalid) as exc:
            report.failed += 1
            problems.append((got.mirror.url, got.mirror.tag, "error", f"{where}: cached copy unreadable ({exc})"))
            continue
        spec_sizes = None
        if sizes and got.state.get("layout") in ("v3", "oci"):  # without a store: fetched again next time
            spec_sizes, fetched = fetch_sizes(got, records.filter(records.column("in_buildcache")), known_sizes)
            known_sizes.update(spec_sizes)
            report.sizes_fetched += fetched
            unknown = sum(v is None for v in spec_sizes.values())
            if unknown:
                problems.append((got.mirror.url, got.mirror.tag, "warning", f"{where}: size unknown for {unknown:,} of {len(spec_sizes):,} "
                                 "binaries (their manifests are missing, unreadable or do not match their digest)"))
            if progress:
                progress("sizes", report.sizes_fetched, None)
        elif sizes and got.state.get("layout") == "v2":
            note = "sizes are read from v3 spec manifests; v2 mirrors show them as unknown"
            if note not in report.notes:
                report.notes.append(note)
        parts.append((got.mirror, records, deps, spec_sizes))
    if report.offline:
        report.notes.append(f"offline: {report.offline} mirror(s) unreachable, shown from the local cache")
    if combined is None:
        combined = combine(parts)
        if cache_root is not None and not report.failed:
            _write_set(cache_root, label, set_key, combined)
    return combined, _problem_rows(problems), report


def _set_dir(cache_root: Path, label: str) -> Path:
    return cache_root / "mirror-sets" / hashlib.sha256(label.encode()).hexdigest()[:24]


def _read_set(cache_root: Path, label: str, key: str) -> tuple[dict[str, pa.Table] | None, str]:
    """``(tables, "")``: the combined tables of a mirror set, if stored for exactly
    ``key`` (its mirrors' index checksums); ``(None, "")`` when not stored or stored for
    other indexes; ``(None, note)`` when the stored copy is damaged or foreign (a key
    file that is not ``{"key": ...}``, a table unreadable or of another schema): it is
    then moved aside, named in ``note``, and rebuilt."""
    folder = _set_dir(cache_root, label)
    if not (folder / "key.json").exists():
        return None, ""
    expected = {**SCHEMAS, "nodes": NODE_SCHEMA}
    try:
        stored = json.loads((folder / "key.json").read_text())
        if not isinstance(stored, dict) or not isinstance(stored.get("key"), str):
            damage = "key.json is not {\"key\": ...}"
        elif stored["key"] != key or stored.get("format") != STORE_FORMAT:  # other indexes, or written by another version
            return None, ""
        else:
            tables = {name: read_arrow(folder / f"{name}.arrow") for name in COMBINED_TABLES}
            wrong = [name for name in COMBINED_TABLES if not tables[name].schema.equals(expected[name], check_metadata=False)]
            if not wrong:
                return tables, ""
            damage = f"{wrong[0]}.arrow holds another table"
    except (OSError, ValueError, RecursionError, pa.ArrowInvalid) as exc:
        damage = f"unreadable ({type(exc).__name__}: {str(exc)[:120]})"
    aside = move_aside(folder)
    return None, f"the stored copy of the mirror set {label} was damaged ({damage}): " + (f"moved to {aside}, rebuilt" if aside else "removed, rebuilt")


def _write_set(cache_root: Path, label: str, key: str, tables: dict[str, pa.Table]) -> None:
    """Store a mirror set's combined tables (the next unchanged load reads only them)."""

    def write(tmp: Path) -> None:
        for name in COMBINED_TABLES:
            write_arrow(tables[name], tmp / f"{name}.arrow")
        (tmp / "key.json").write_text(json.dumps({"format": STORE_FORMAT, "key": key}))

    try:
        swap_in(_set_dir(cache_root, label), write)
    except OSError:
        pass  # only slower next time


def load_previous(source: str, cache_dir: str | os.PathLike | None = None) -> CacheData | None:
    """The index the mirror ``source`` had before its last change, as the store kept it
    (one generation), as :class:`CacheData` whose tag says when it was fetched
    (``"<tag> (fetched 2026-12-01 08:00)"``); ``None`` when the store keeps none.  Load the
    mirror first: a load that finds a new index keeps the one it replaces.

    Raises:
        MirrorError: ``source`` is not one mirror (a list of mirrors, a registry's
            list), or the kept copy is damaged.
    """
    root = Path(cache_dir) if cache_dir is not None else store_base()
    mirrors = resolve(source, root)
    if len(mirrors) != 1:
        raise MirrorError(f"{source}: {len(mirrors)} mirrors; an earlier load is kept per mirror: name one mirror")
    kept = previous(mirrors[0], root)
    if kept is None:
        return None
    state, records, deps, sizes = kept
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(state.get("fetched_at", 0)))
    mirror = Mirror(f"{mirrors[0].tag} (fetched {when})", mirrors[0].stack, mirrors[0].url)
    tables = combine([(mirror, records, deps, {h: v for h, v in sizes.items() if v is not None} or None)])
    frames = to_frames(tables, tables["pages"].num_rows)
    return CacheData(specs=frames["specs"], spec_stacks=frames["spec_stacks"], pages=frames["pages"], meta_stacks=frames["meta_stacks"],
                     problems=pd.DataFrame({c: pd.Series(dtype=object) for c in ("path", "tag", "package", "severity", "problem")}),
                     source=f"{source} (the index kept from {when})", dependencies=frames["dependencies"],
                     mirrors=pd.DataFrame([(mirror.tag, mirror.stack, mirror.url)], columns=["tag", "stack", "url"]),
                     nodes=tables["nodes"].to_pandas())


class MirrorSource(Source):
    """Spack build caches: one mirror (v2 or v3 layout on a local path, ``file://``,
    ``http(s)://``, ``s3://``; or an OCI registry, ``oci://``/``oci+http://``) or a
    list of mirrors (see the module docstring), one source per location.

    Each mirror's index is fetched only when it changed (one small request per
    mirror otherwise: v3 index manifest, v2 ``index.json.hash`` or ETag, OCI
    ``index.spack`` digest) and kept, parsed, in the store; unreachable mirrors are
    shown from there with a warning; failed mirrors are ``error`` rows of
    ``problems`` with ``path`` = the mirror URL."""

    kind = "mirror"

    @classmethod
    def claims(cls, location: str) -> bool:
        """See :func:`looks_like_mirror`."""
        return looks_like_mirror(location)

    def load(self, options: LoadOptions) -> CacheData:
        """See :meth:`Source.load`; ``mirrors`` lists the mirrors (``tag``, ``stack``,
        ``url``) and ``nodes`` the index records that are not binaries.

        Raises:
            MirrorError: the mirror list cannot be read.
        """
        t0 = time.perf_counter()
        source, cache, cache_dir, progress, sizes = self.label, options.cache, options.cache_dir, options.progress, options.sizes
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
