"""One Spack mirror: is its index current, download it once (checked against its
sha256), keep it parsed in the local store, and read binary sizes from its v3
spec manifests (an OCI registry: :mod:`dashboard.sources.oci`).  Used by :mod:`dashboard.sources.mirror`; no pandas, no Panel.

Store layout (the store's one format, :mod:`dashboard.store`):
``<store>/mirrors/<sha256 of the URL>/`` holds ``records.arrow`` and
``deps.arrow`` (the parsed index, see :mod:`dashboard.sources.spackdb`),
``state.json`` (store format, layout, index checksum, when fetched, and the
size/mtime of a local mirror's index files) and ``sizes.json`` (hash -> bytes,
written after each batch so an interrupted read resumes); ``previous/`` holds the
same files for the index this mirror had before its last change (one generation:
*what changed since I last looked*, :func:`previous`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa

from dashboard.store import STORE_FORMAT, move_aside, read_arrow, swap_in, write_arrow
from dashboard.sources import limits
from dashboard.sources.base import SourceError
from dashboard.sources.oci import INDEX_TAG, Registry, binary_sizes, index_digest, is_oci, tag_map
from dashboard.sources.remote import FetchError, is_url, join, read, read_many, stat_key
from dashboard.sources.spackdb import DEPENDENCY_SCHEMA, RECORD_SCHEMA, IndexError_, index_entry, parse_index, parse_manifest, tarball_size

V3_MANIFEST = "v3/manifests/index/index.manifest.json"
V2_INDEX = "build_cache/index.json"


@dataclass(frozen=True)
class Mirror:
    """One build cache: ``url`` (local path or URL), shown as ``tag`` / ``stack``;
    ``access_pair``: ``(id, secret)`` from Spack's ``mirrors.yaml`` for a registry
    that needs them (never shown, compared, logged or stored)."""

    tag: str
    stack: str
    url: str
    access_pair: tuple[str, str] | None = field(default=None, repr=False, compare=False)


class MirrorError(SourceError):
    """A mirror cannot be used (message names the mirror, the URL and why)."""


def _cache_dir(cache_root: Path, url: str) -> Path:
    return cache_root / "mirrors" / hashlib.sha256(url.encode()).hexdigest()[:24]


#: Types of the fields of ``state.json`` the code relies on; a state with another type
#: (a damaged or foreign file) is no state: the mirror is fetched again.
_STATE_TYPES = {"format": int, "key": str, "layout": str, "skipped": int, "replaced": int, "records": int, "bytes": int}


def _read_state(folder: Path) -> tuple[dict, str]:
    """``(state, "")``: the mirror's cached state; ``({}, "")`` when there is none;
    ``({}, reason)`` when the folder is damaged or foreign: a state that is unreadable,
    not a JSON object or has a field of another type, Arrow files that are not the
    parsed index (another schema, damaged), or sizes that are not byte counts.  A
    state of another format is no state (written by another version: fetched again)."""
    if not (folder / "state.json").exists():
        return {}, ""
    try:
        state = json.loads((folder / "state.json").read_text())
        if not isinstance(state, dict):
            return {}, "state.json is not a JSON object"
        wrong = [name for name, kind in _STATE_TYPES.items() if name in state and type(state[name]) is not kind]
        if wrong:
            return {}, f"state.json field {wrong[0]!r} is not {_STATE_TYPES[wrong[0]].__name__}"
        if state.get("format") != STORE_FORMAT:
            return {}, ""
        for name, schema in (("records.arrow", RECORD_SCHEMA), ("deps.arrow", DEPENDENCY_SCHEMA)):
            with pa.memory_map(str(folder / name)) as source:
                if not pa.ipc.open_file(source).schema.equals(schema):
                    return {}, f"{name} holds another table"
        if (folder / "sizes.json").exists():
            sizes = json.loads((folder / "sizes.json").read_text())
            if not isinstance(sizes, dict) or any(v is not None and (type(v) is not int or v < 0) for v in sizes.values()):
                return {}, "sizes.json holds something other than byte counts"
        return state, ""
    except (OSError, ValueError, RecursionError, pa.ArrowInvalid) as exc:
        return {}, f"unreadable ({type(exc).__name__}: {str(exc)[:120]})"


#: The files of one stored index (``previous/`` holds the same names).
_INDEX_FILES = ("records.arrow", "deps.arrow", "state.json", "sizes.json")


def _save(folder: Path, state: dict, records: pa.Table, deps: pa.Table, old: dict | None = None) -> None:
    """Write a mirror's cache folder (parsed index, state; sizes carried over); the
    index it replaces (``old``: its state, a trusted one) becomes ``previous/``."""

    def write(tmp: Path) -> None:
        write_arrow(records, tmp / "records.arrow")
        write_arrow(deps, tmp / "deps.arrow")
        if (folder / "sizes.json").is_file():  # a hash names one binary: sizes stay valid
            shutil.copy(folder / "sizes.json", tmp / "sizes.json")
        (tmp / "state.json").write_text(json.dumps({**state, "format": STORE_FORMAT}))
        if old and old.get("key") != state.get("key"):  # the index changed: keep the one it replaces
            (tmp / "previous").mkdir()
            for name in _INDEX_FILES:
                if (folder / name).is_file():
                    try:
                        os.link(folder / name, tmp / "previous" / name)  # no copy: the folder is replaced, its files stay
                    except OSError:
                        shutil.copy(folder / name, tmp / "previous" / name)

    swap_in(folder, write)


@dataclass
class Fetched:
    """One mirror after :func:`fetch`: ``status`` is ``"fetched"``, ``"unchanged"``
    or ``"offline"``; ``records``/``deps`` are set when fetched (else read with
    :func:`tables`); ``note`` says what a user should know; ``nbytes`` downloaded."""

    mirror: Mirror
    folder: Path
    state: dict
    status: str  # "fetched", "unchanged", "offline"
    records: pa.Table | None = None
    deps: pa.Table | None = None
    note: str = ""
    nbytes: int = 0


_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Largest index read or decompressed (bytes; :mod:`dashboard.sources.limits`).
MAX_INDEX_BYTES = limits.MAX_INDEX_BYTES


def gunzip(data: bytes, limit: int, where: str) -> bytes:
    """``data`` gunzipped, never more than ``limit`` bytes (a small bomb would fill memory).

    Raises:
        MirrorError: not gzip, truncated, or more than ``limit`` bytes once decompressed
            (``where`` names the file)."""
    try:
        inflater = zlib.decompressobj(wbits=31)
        out = inflater.decompress(data, limit + 1)
        if len(out) > limit:
            raise MirrorError(f"{where}: decompresses to more than {limit:,} bytes")
        if not inflater.eof:
            raise MirrorError(f"{where}: truncated gzip")
        return out
    except zlib.error as exc:
        raise MirrorError(f"{where}: marked gzip but not gzip ({exc})") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _local_stamp(url: str, state: dict) -> str:
    """For a mirror on a local file system: size and mtime (ns) of the files that
    name its index (v3 manifest, or v2 index and its hash), as one text; ``""``
    for remote mirrors or when they cannot be read.  A ``stat`` per mirror
    instead of a read: a set of 10,000 local mirrors is checked in well under a second."""
    if is_url(url) and not url.startswith("file://"):
        return ""
    root = url.removeprefix("file://")
    names = (V2_INDEX, V2_INDEX + ".hash") if state.get("layout") == "v2" else (V3_MANIFEST,)
    try:
        stats = [os.stat(os.path.join(root, name)) for name in names if state.get("layout") == "v3" or os.path.exists(os.path.join(root, name))]
    except OSError:
        return ""
    return ";".join(f"{st.st_size}:{st.st_mtime_ns}" for st in stats) if stats else ""


def _check(mirror: Mirror, folder: Path, state: dict, progress) -> Fetched:
    """Fetch ``mirror``'s index unless the cached one (``state``) is current."""
    url = mirror.url
    local = _local_stamp(url, state)
    if local and state.get("local") == local:  # a local mirror whose index files did not change
        return Fetched(mirror, folder, state, "unchanged")
    order = ("oci",) if is_oci(url) else ("v2", "v3") if state.get("layout") == "v2" else ("v3", "v2")
    signed, stamp = False, ""
    for layout in order:
        if layout == "oci":  # the index is the single layer of the index.spack tag, named by its digest
            registry = Registry(url, mirror.access_pair)
            try:
                key = index_digest(registry)
            except FetchError as exc:
                if exc.kind == "missing":
                    raise MirrorError(f"not a Spack build cache: no {exc.url.rsplit('/', 1)[-1] or 'index.spack'} tag") from None
                raise
            if state.get("key") == key:
                return Fetched(mirror, folder, state, "unchanged")
            data = registry.blob(key)
            index_url = f"{url} {INDEX_TAG} layer {key}"
            nbytes = len(data)
            break
        if layout == "v3":
            index_url = join(url, V3_MANIFEST)
            try:
                entries, signed = parse_manifest(read(index_url, limit=limits.MAX_SMALL_BYTES))
            except FetchError as exc:
                if exc.kind == "missing":
                    continue
                raise
            except IndexError_ as exc:
                raise MirrorError(f"index manifest {index_url}: {exc}") from None
            entry = index_entry(entries)
            key = str(entry.get("checksum", ""))
            if not _SHA256.fullmatch(key):  # a path such as ../../secret must never reach a URL
                raise MirrorError(f"{join(url, V3_MANIFEST)}: index checksum {key[:80]!r} is not a sha256")
            if state.get("key") == key:
                return Fetched(mirror, folder, state, "unchanged")
            blob_url = index_url = join(url, "blobs", "sha256", key[:2], key)
            declared = entry.get("contentLength")  # the manifest says how big the blob is: read no more
            data = read(blob_url, progress, limit=declared if type(declared) is int and 0 <= declared <= MAX_INDEX_BYTES else MAX_INDEX_BYTES)
            if _sha256(data) != key:
                raise MirrorError(f"checksum mismatch: {blob_url} does not hash to the manifest's sha256 {key}")
            nbytes = len(data)
            if str(entry.get("compression", "none")) == "gzip":
                data = gunzip(data, MAX_INDEX_BYTES, blob_url)
            break
        try:
            expected = read(join(url, V2_INDEX + ".hash"), limit=limits.MAX_SMALL_BYTES).decode(errors="replace").strip()
        except FetchError as exc:
            if exc.kind != "missing":
                raise
            expected = ""
        if expected and state.get("key") == expected:
            return Fetched(mirror, folder, state, "unchanged")
        try:
            stamp = "" if expected else stat_key(join(url, V2_INDEX))  # no .hash: size and mtime/ETag
            if stamp and state.get("stamp") == stamp:
                return Fetched(mirror, folder, state, "unchanged")
            index_url = join(url, V2_INDEX)
            data = read(index_url, progress, limit=MAX_INDEX_BYTES)
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
    try:
        records, deps, info = parse_index(data)
    except IndexError_ as exc:
        raise MirrorError(f"index {index_url}: {exc}") from None
    except RecursionError:
        raise MirrorError(f"index {index_url}: JSON nested deeper than any index") from None
    del data
    new_state = {"url": url, "layout": layout, "key": key, "fetched_at": time.time(), "signed": signed,
                 "db_version": info["db_version"], "records": info["records"], "skipped": info["skipped"], "replaced": info.get("replaced", 0), "bytes": nbytes, "stamp": stamp}
    new_state["local"] = _local_stamp(url, new_state)
    return Fetched(mirror, folder, new_state, "fetched", records, deps, nbytes=nbytes)


def fetch(mirror: Mirror, cache_root: Path | None, progress: Callable[[int, int | None], None] | None = None) -> Fetched:
    """Bring one mirror's parsed index up to date (see the module docstring).

    Raises:
        MirrorError: the mirror cannot be used and no cached copy exists; the
            message names the mirror, the URL and the reason (unreachable,
            403/404, not a build cache, unknown database version, corrupt
            JSON, checksum mismatch).
    """
    folder = _cache_dir(cache_root, mirror.url) if cache_root is not None else Path(os.devnull)
    state, damage = _read_state(folder) if cache_root is not None else ({}, "")
    healed = ""
    if damage:  # named, moved aside, fetched again
        aside = move_aside(folder)
        healed = f"the stored copy of mirror {mirror.tag}/{mirror.stack} was damaged ({damage}): " + (
            f"moved to {aside}, fetched again" if aside else "removed, fetched again")
    where = f"mirror {mirror.tag}/{mirror.stack} ({mirror.url})"
    try:
        got = _check(mirror, folder, state, progress)
    except FetchError as exc:
        if exc.kind == "unreachable" and state:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(state.get("fetched_at", 0)))
            return Fetched(mirror, folder, state, "offline", note=f"{where} is unreachable ({exc.detail[:120]}): showing the copy fetched {when}")
        raise MirrorError(f"{where}: {exc.url} {exc.kind} ({exc.detail})" + (f"; {healed}" if healed else "")) from None
    except (IndexError_, MirrorError) as exc:
        raise MirrorError(f"{where}: {exc}" + (f"; {healed}" if healed else "")) from None
    if got.status == "unchanged" and cache_root is not None:
        stamp = _local_stamp(mirror.url, state)
        if stamp and state.get("local") != stamp:  # next time a stat will do
            try:
                (folder / "state.json").write_text(json.dumps({**state, "local": stamp}))
            except OSError:
                pass
    if got.status == "fetched" and cache_root is not None:
        try:
            _save(folder, got.state, got.records, got.deps, old=state)
        except OSError as exc:
            got.note = f"{where}: not cached ({exc})"
    if healed:
        got.note = "; ".join(filter(None, [healed, got.note]))
    return got


def previous(mirror: Mirror, cache_root: Path) -> tuple[dict, pa.Table, pa.Table, dict] | None:
    """The index ``mirror`` had before its last change, as kept in the store: ``(state,
    records, dependencies, sizes)``; ``None`` when none is kept (never changed since it was
    first read, or read without a store).

    Raises:
        MirrorError: the kept copy is damaged (named).
    """
    folder = _cache_dir(cache_root, mirror.url) / "previous"
    state, damage = _read_state(folder)
    if damage:
        raise MirrorError(f"mirror {mirror.tag}/{mirror.stack} ({mirror.url}): the kept previous index is damaged ({damage})")
    if not state:
        return None
    try:
        sizes = json.loads((folder / "sizes.json").read_text()) if (folder / "sizes.json").is_file() else {}
        return state, read_arrow(folder / "records.arrow"), read_arrow(folder / "deps.arrow"), sizes
    except (OSError, ValueError, pa.ArrowInvalid) as exc:
        raise MirrorError(f"mirror {mirror.tag}/{mirror.stack} ({mirror.url}): the kept previous index is unreadable ({exc})") from None


def tables(got: Fetched) -> tuple[pa.Table, pa.Table]:
    """``(records, dependencies)`` of a fetched mirror, read from its cache folder if needed.

    Raises:
        OSError, pyarrow.ArrowInvalid: the cached copy is unreadable.
    """
    if got.records is None:
        got.records, got.deps = read_arrow(got.folder / "records.arrow"), read_arrow(got.folder / "deps.arrow")
    return got.records, got.deps


# --- sizes from v3 spec manifests ----------------------------------------------------------


#: What Spack allows in a package name and a version, and a DAG hash: a spec manifest's
#: path is built from them, so anything else (``../``, ``/``) could leave the mirror.
_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SAFE_VERSION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*")
_DAG_HASH = re.compile(r"[a-z2-7]{32}")


def spec_manifest_url(url: str, name: str, version: str, spec_hash: str) -> str | None:
    """The URL of a binary's v3 spec manifest in the mirror at ``url``; ``None`` when
    the name, version or hash is not one Spack writes (the path would not stay inside
    the mirror, or is no binary Spack could have pushed)."""
    if not (_SAFE_NAME.fullmatch(str(name)) and _SAFE_VERSION.fullmatch(str(version)) and ".." not in str(version)
            and _DAG_HASH.fullmatch(str(spec_hash))):
        return None
    return join(url, "v3/manifests/spec", name, f"{name}-{version}-{spec_hash}.spec.manifest.json")


#: Binaries whose sizes are read before the cached sizes are written again.
SIZE_BATCH = 512


def fetch_sizes(got: Fetched, records: pa.Table, known: dict[str, int | None] | None = None) -> tuple[dict[str, int | None], int]:
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
    except (OSError, ValueError, RecursionError):
        sizes = {}
    if not isinstance(sizes, dict):  # damaged: read them again
        sizes = {}
    sizes = {h: v for h, v in sizes.items() if v is None or (type(v) is int and v >= 0)}
    wanted = [
        (h, spec_manifest_url(got.mirror.url, n, v, h))
        for h, n, v in zip(*(records.column(c).to_pylist() for c in ("hash", "package", "version")))
        if h not in sizes and (known is None or known.get(h) is None)
    ]
    if known:
        sizes.update({h: known[h] for h in records.column("hash").to_pylist() if h not in sizes and known.get(h) is not None})
    if is_oci(got.mirror.url):  # sizes are in the binaries' image manifests
        registry = Registry(got.mirror.url, got.mirror.access_pair)
        tags = tag_map(registry) if wanted else {}

        def read_chunk(chunk):
            return binary_sizes(registry, [h for h, _ in chunk], tags)
    else:
        def read_chunk(chunk):
            got_bytes, out = read_many([u for _, u in chunk if u is not None]), {}
            for spec_hash, url in chunk:
                value = got_bytes.get(url) if url is not None else None
                try:
                    out[spec_hash] = tarball_size(parse_manifest(value)[0]) if isinstance(value, bytes) else None
                except (IndexError_, RecursionError, ValueError):
                    out[spec_hash] = None
            return out
    fetched = 0
    for start in range(0, len(wanted), SIZE_BATCH):  # written after each batch: an interrupted run resumes
        chunk = wanted[start:start + SIZE_BATCH]
        sizes.update(read_chunk(chunk))
        fetched += len(chunk)
        try:
            path.write_text(json.dumps(sizes))
        except OSError:
            pass
    return sizes, fetched


