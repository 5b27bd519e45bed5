"""Parse a Spack build-cache index (``index.json``, database versions 6 to 9) and
v3 manifests into Arrow tables.  Pure Python/pyarrow: no pandas, no Panel, no I/O.

Source format (Spack's ``file_formats/database.rst`` and ``specfile.rst``)::

    {"database": {"version": "8", "installs": {
        "<hash>": {"spec": {"name": "libelf", "version": "0.8.13",
                            "arch": {"platform": "linux", "platform_os": "ubuntu22.04",
                                     "target": {"name": "zen3", ...} | "zen3"},
                            "compiler": {"name": "gcc", "version": "11.4.0"},   # spec v4 and older
                            "parameters": {"shared": true, "build_system": "cmake",
                                           "patches": ["<sha256>", ...], "cflags": [], ...},
                            "dependencies": [{"name": "gcc", "hash": "<hash>",
                                              "parameters": {"deptypes": ["build"],
                                                             "virtuals": ["c"]}}],
                            "annotations": {"compiler": "gcc@=10.2.1"},
                            "hash": "<hash>"},                                  # "_hash" in v6
                   "in_buildcache": true, "ref_count": 1}, ...}}}

The index is decoded by ``msgspec`` into typed records that skip every field
not read here (fast, little memory); an index that does not fit those types
(an odd record) is decoded again as plain JSON and read record by record, the
records that cannot be read being counted, never stopping the rest.
"""

from __future__ import annotations

import json
import re
from itertools import repeat
from typing import Any, Union

import msgspec
import pyarrow as pa

from dashboard.core.schema import DEPENDENCIES_SCHEMA, SPEC_SCHEMA
from dashboard.sources.base import no_cyclic_gc
from dashboard.core.spack import FLAG_NAMES, normalize_compiler, quote_if_needed, render_variants  # noqa: F401  (re-exported)

#: Database versions this reader understands.
DB_VERSIONS = (6, 7, 8, 9)
#: Virtuals that name a spec's compiler (spec format v5, Spack 1.x), in order of preference.
COMPILER_VIRTUALS = ("c", "cxx", "fortran")

#: One row per record of an index (binaries and the records they depend on).
#: The spec columns are typed as in the dashboard's spec table (:data:`dashboard.core.schema.SPEC_SCHEMA`).
RECORD_SCHEMA = pa.schema(
    [SPEC_SCHEMA.field("hash"), ("package", pa.string())]
    + [SPEC_SCHEMA.field(name) for name in ("version", "compiler", "os", "platform", "target", "variants", "n_deps")]
    + [("in_buildcache", pa.bool_()), ("external", pa.bool_()), SPEC_SCHEMA.field("package_hash")]
)
#: One row per dependency edge: ``hash`` depends on ``dep_hash`` (named ``dep_name``);
#: ``deptypes`` and ``virtuals`` comma-separated (the dashboard's table without ``page_id``).
DEPENDENCY_SCHEMA = pa.schema([f for f in DEPENDENCIES_SCHEMA if f.name != "page_id"])


class IndexError_(ValueError):
    """The bytes are not a build-cache index this reader understands (the message
    says why: not JSON, truncated, no ``database.installs``, unknown version)."""


# --- typed records: only the fields read here are decoded -------------------------------


class _Target(msgspec.Struct, gc=False):
    name: str = ""


class _Arch(msgspec.Struct, gc=False):
    platform: str = ""
    platform_os: str = ""
    target: Union[str, _Target] = ""


class _Compiler(msgspec.Struct, gc=False, frozen=True):  # frozen: hashable, a key of the rendered compilers
    name: str = ""
    version: str = ""


class _DepParameters(msgspec.Struct, gc=False):
    deptypes: list[str] = []
    virtuals: list[str] = []


class _Dep(msgspec.Struct, gc=False):
    name: str = ""
    hash: str = ""
    parameters: Union[_DepParameters, None] = None
    type: Union[list[str], None] = None  # spec format v2/v3


class _Annotations(msgspec.Struct, gc=False):
    compiler: Any = None  # only this key is read: no dict is built per record


class _Spec(msgspec.Struct, gc=False):
    name: str = ""
    version: Union[str, None] = None
    # kept raw: most specs share their arch and parameters, decoded once per distinct text
    arch: msgspec.Raw = msgspec.Raw(b"null")
    compiler: Union[_Compiler, None] = None
    parameters: msgspec.Raw = msgspec.Raw(b"{}")
    dependencies: Union[list[_Dep], dict[str, Any], None] = None
    annotations: Union[_Annotations, None] = None
    hash: Union[str, None] = None
    legacy_hash: Union[str, None] = msgspec.field(default=None, name="_hash")
    package_hash: Union[str, None] = None
    external: msgspec.Raw = msgspec.Raw(b"null")  # only whether it is there and not null


class _Record(msgspec.Struct, gc=False):
    spec: _Spec
    in_buildcache: bool = True


class _Database(msgspec.Struct):
    installs: dict[str, msgspec.Raw]  # each record decoded in turn, then dropped: memory stays low
    version: Union[str, int, None] = None


class _Index(msgspec.Struct):
    database: _Database


_typed = msgspec.json.Decoder(_Index)
_plain = msgspec.json.Decoder()
_record_decoder = msgspec.json.Decoder(_Record)
_arch_decoder = msgspec.json.Decoder(Union[_Arch, None])
_params_decoder = msgspec.json.Decoder(dict[str, Any])


def strip_armour(text: bytes) -> tuple[bytes, bool]:
    """``(message, was_signed)`` of a possibly PGP clear-signed text (dash-escaping
    undone).  The signature is **not** verified: say so to the user."""
    head = b"-----BEGIN PGP SIGNED MESSAGE-----"
    if not text.lstrip().startswith(head):
        return text, False
    body = text.lstrip()[len(head):]
    start = body.find(b"\n\n")
    start = body.find(b"\r\n\r\n") + 4 if start < 0 else start + 2
    end = body.find(b"-----BEGIN PGP SIGNATURE-----")
    message = body[start: end if end >= 0 else len(body)]
    lines = [line[2:] if line.startswith(b"- ") else line for line in message.split(b"\n")]
    return b"\n".join(lines), True




def _deps(spec) -> list[tuple[str, str, str, str]]:
    """``(dep_hash, dep_name, deptypes, virtuals)`` of a typed or plain spec."""
    deps = spec.dependencies if isinstance(spec, _Spec) else spec.get("dependencies")
    out = []
    if isinstance(deps, dict):  # spec format v2/v3: {name: {"hash": ..., "type": [...]}}
        for name, edge in deps.items():
            if isinstance(edge, dict):
                out.append((str(edge.get("hash", "")), str(name), ",".join(map(str, edge.get("type") or [])), ""))
        return out
    for dep in deps or []:
        if isinstance(dep, _Dep):
            params = dep.parameters
            types = params.deptypes if params is not None else (dep.type or [])
            virtuals = params.virtuals if params is not None else []
            out.append((dep.hash, dep.name, ",".join(types), ",".join(virtuals)))
        elif isinstance(dep, dict):
            params = dep.get("parameters") if isinstance(dep.get("parameters"), dict) else {}
            types = params.get("deptypes", dep.get("type")) or []
            out.append((str(dep.get("hash", "")), str(dep.get("name", "")), ",".join(map(str, types)), ",".join(map(str, params.get("virtuals") or []))))
    return out


def _compiler_parts(compiler, deps, annotations) -> tuple[str, str | None]:
    """``(text, None)`` when the spec itself names its compiler (``name@version``,
    or ``"none"``), else ``(dep_name, dep_hash)``: the build dependency providing
    c/cxx/fortran, whose version is that record's (see :func:`parse_index`)."""
    if compiler is not None:
        name, version = (compiler.name, compiler.version) if isinstance(compiler, _Compiler) else (compiler.get("name"), compiler.get("version"))
        if name:
            return normalize_compiler(f"{name}@{version}" if version else str(name)), None
    for virtual in COMPILER_VIRTUALS:
        for dep_hash, dep_name, _, virtuals in deps:
            if virtual in virtuals.split(","):
                return dep_name, dep_hash
    named = annotations.get("compiler") if isinstance(annotations, dict) else getattr(annotations, "compiler", None)
    if named:
        return normalize_compiler(str(named)), None
    return "none", None


def _with_version(name: str, version: str | None) -> str:
    return f"{name}@{version}" if version else name


def db_version(raw) -> int:
    """The database version as an int.

    Raises:
        IndexError_: missing or not one of :data:`DB_VERSIONS`.
    """
    try:
        version = int(str(raw))
    except ValueError:
        raise IndexError_(f"database version {raw!r} is not a number") from None
    if version not in DB_VERSIONS:
        raise IndexError_(f"unknown database version {version} (this dashboard reads {DB_VERSIONS[0]} to {DB_VERSIONS[-1]})")
    return version


def _columns():
    return {name: [] for name in RECORD_SCHEMA.names}, {name: [] for name in DEPENDENCY_SCHEMA.names}


def _typed_rows(installs: dict[str, msgspec.Raw]):
    """Columns from typed records (the fast path), one record decoded at a time.

    The loop is the parse's own cost (a few microseconds a record): each column's
    ``append`` is bound once, the common dependency form (a list of typed edges) and the
    compiler found through a ``c``/``cxx``/``fortran`` edge are read inline, and each
    distinct ``arch``, ``parameters`` and named compiler is decoded and rendered once
    (the OS, platform, target and variants columns are then Arrow arrays taken from
    those distinct values by code, not strings copied one by one)."""
    rows, edges = _columns()
    pending: list[tuple[int, str, str]] = []  # (row, compiler name, its record's hash): version known at the end
    # each distinct raw arch and parameters text gets a code; the columns are taken from the codes at the end
    arches: dict[bytes, int] = {}
    arch_values: list[tuple[str, str, str]] = []
    arch_codes: list[int] = []
    variants: dict[bytes, int] = {}
    variant_values: list[str] = []
    variant_codes: list[int] = []
    compilers: dict[_Compiler, str] = {}
    decode = _record_decoder.decode
    add_hash, add_package, add_version, add_compiler = rows["hash"].append, rows["package"].append, rows["version"].append, rows["compiler"].append
    add_arch, add_variants = arch_codes.append, variant_codes.append
    add_n_deps, add_in_buildcache, add_external, add_package_hash = (rows["n_deps"].append, rows["in_buildcache"].append, rows["external"].append,
                                                                     rows["package_hash"].append)
    all_edges: list[tuple[str, str, str, str]] = []  # (dep_hash, dep_name, deptypes, virtuals), transposed at the end
    add_edges, edge_owners = all_edges.extend, edges["hash"].extend
    not_external = (b"null", b"{}", b"false", b"")
    row = 0
    for key, raw in installs.items():
        record = decode(raw)
        spec = record.spec
        spec_hash = spec.hash or spec.legacy_hash or key
        listed = spec.dependencies
        provider = None  # the edge providing c, cxx or fortran (in that order of preference)
        if not listed:
            deps = ()
        else:
            try:  # spec format v4+: a list of typed edges with parameters (else: the general reader)
                deps = []
                rank = 3
                for d in listed:
                    virtuals = d.parameters.virtuals
                    if virtuals and rank:
                        for at, virtual in enumerate(COMPILER_VIRTUALS[:rank]):
                            if virtual in virtuals:
                                provider, rank = d, at
                                break
                    deps.append((d.hash, d.name, ",".join(d.parameters.deptypes), ",".join(virtuals)))
            except AttributeError:
                deps, provider = _deps(spec), False
        raw_arch = bytes(spec.arch)
        arch = arches.get(raw_arch)
        if arch is None:
            decoded = _arch_decoder.decode(raw_arch) or _Arch()
            target = decoded.target if isinstance(decoded.target, str) else decoded.target.name
            arch = arches[raw_arch] = len(arch_values)
            arch_values.append((decoded.platform_os, decoded.platform, target))
        raw_params = bytes(spec.parameters)
        rendered = variants.get(raw_params)
        if rendered is None:
            rendered = variants[raw_params] = len(variant_values)
            variant_values.append(render_variants(_params_decoder.decode(raw_params)))
        version = spec.version or ""
        add_hash(spec_hash)
        add_package(spec.name)
        add_version(version)
        named = spec.compiler
        if named is not None and named.name:  # the spec names its compiler (spec format < 5): rendered once per compiler
            compiler = compilers.get(named)
            if compiler is None:
                compiler = compilers[named] = _compiler_parts(named, (), None)[0]
        elif provider:  # its version is that record's: known at the end
            compiler = provider.name
            pending.append((row, compiler, provider.hash))
        else:
            annotations = spec.annotations
            if provider is False or (annotations is not None and annotations.compiler):  # the general reader
                compiler, dep_hash = _compiler_parts(None, deps, annotations)
                if dep_hash is not None:
                    pending.append((row, compiler, dep_hash))
            else:
                compiler = "none"
        add_compiler(compiler)
        add_arch(arch)
        add_variants(rendered)
        add_n_deps(len(deps))
        add_in_buildcache(record.in_buildcache)
        add_external(bytes(spec.external) not in not_external)
        add_package_hash(spec.package_hash or "")
        if deps:
            add_edges(deps)
            edge_owners(repeat(spec_hash, len(deps)))
        row += 1
    named_compilers = rows["compiler"]
    versions = dict(zip(installs, rows["version"])) if pending else {}  # record key -> version: rows are in the records' order
    for at, name, dep_hash in pending:
        named_compilers[at] = _with_version(name, versions.get(dep_hash))
    codes = pa.array(arch_codes, pa.int32())
    for i, name in enumerate(("os", "platform", "target")):
        rows[name] = pa.array([value[i] for value in arch_values], pa.string()).take(codes)
    rows["variants"] = pa.array(variant_values, pa.string()).take(pa.array(variant_codes, pa.int32()))
    if all_edges:
        for name, column in zip(DEPENDENCY_SCHEMA.names[1:], zip(*all_edges)):
            edges[name] = column
    return rows, edges, 0


def _plain_compiler(compiler, deps, annotations, versions: dict[str, str]) -> str:
    text, dep_hash = _compiler_parts(compiler, deps, annotations)
    return text if dep_hash is None else _with_version(text, versions.get(dep_hash))


def _text(value) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def _plain_rows(installs: dict):
    """Columns from plain JSON records, one by one; returns the count of records skipped."""
    rows, edges = _columns()
    specs = {k: r.get("spec") for k, r in installs.items() if isinstance(r, dict) and isinstance(r.get("spec"), dict)}
    versions = {k: _text(s.get("version")) for k, s in specs.items()}
    skipped = len(installs) - len(specs)
    for key, spec in specs.items():
        try:
            spec_hash = _text(spec.get("hash") or spec.get("_hash")) or str(key)
            deps = _deps(spec)
            arch = spec.get("arch") if isinstance(spec.get("arch"), dict) else {}
            target = arch.get("target")
            target = target.get("name", "") if isinstance(target, dict) else _text(target)
            params = spec.get("parameters") if isinstance(spec.get("parameters"), dict) else {}
            compiler = spec.get("compiler") if isinstance(spec.get("compiler"), dict) else None
            row = (
                spec_hash, _text(spec.get("name")), _text(spec.get("version")),
                _plain_compiler(compiler, deps, spec.get("annotations"), versions),
                _text(arch.get("platform_os")), _text(arch.get("platform")), _text(target),
                render_variants(params), len(deps), installs[key].get("in_buildcache", True) is not False,
                bool(spec.get("external")), _text(spec.get("package_hash")),
            )
        except Exception:  # noqa: BLE001 - one odd record never stops the others
            skipped += 1
            continue
        for name, value in zip(RECORD_SCHEMA.names, row):
            rows[name].append(value)
        for dep in deps:
            edges["hash"].append(spec_hash)
            for name, value in zip(DEPENDENCY_SCHEMA.names[1:], dep):
                edges[name].append(value)
    return rows, edges, skipped


#: A ``\\uXXXX`` escape of a UTF-16 surrogate that is not half of a pair.
_LONE_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                             rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _without_lone_surrogates(data: bytes) -> tuple[bytes, int]:
    """``data`` with each escaped lone surrogate replaced by ``\\ufffd`` (msgspec, and
    Arrow's UTF-8, refuse them), and how many there were (searched only after msgspec
    refused an escape)."""
    return _LONE_SURROGATE.subn(rb"\\ufffd", data)


def parse_index(data: bytes) -> tuple[pa.Table, pa.Table, dict]:
    """Parse the bytes of a build-cache index (``index.json`` or a v3 index blob).

    Returns:
        ``(records, dependencies, info)``: ``records`` with :data:`RECORD_SCHEMA`
        (one row per record; ``in_buildcache`` false for records that are not
        binaries, e.g. externals a binary was built with), ``dependencies``
        with :data:`DEPENDENCY_SCHEMA`, and ``info`` =
        ``{"db_version": int, "records": int, "skipped": int, "replaced": int}``
        (records that could not be read; ``\\uXXXX`` escapes of lone UTF-16
        surrogates, which JSON allows and UTF-8 cannot hold, read as U+FFFD).

    Raises:
        IndexError_: not JSON, truncated, no ``database.installs`` mapping, or
            a database version outside :data:`DB_VERSIONS`.
    """
    try:
        return _parse_index(data, 0)
    except _LoneSurrogate:  # rare: read again with them replaced
        return _parse_index(*_without_lone_surrogates(data))


class _LoneSurrogate(Exception):
    pass


def _parse_index(data: bytes, replaced: int) -> tuple[pa.Table, pa.Table, dict]:
    try:
        with no_cyclic_gc():
            index = _typed.decode(data)
            db_version(index.database.version)
            rows, edges, skipped = _typed_rows(index.database.installs)
    except msgspec.ValidationError:  # an odd record (also in a raw arch or parameters): read one by one
        try:
            index = _plain.decode(data)
        except msgspec.DecodeError as exc:
            if ("surrogate" in str(exc) or "escape" in str(exc)) and not replaced and _LONE_SURROGATE.search(data):
                raise _LoneSurrogate from None
            raise IndexError_(f"not valid JSON ({exc})") from None
        database = index.get("database") if isinstance(index, dict) else None
        if not isinstance(database, dict) or not isinstance(database.get("installs"), dict):
            raise IndexError_("not a build-cache index: no database.installs mapping") from None
        db_version(database.get("version"))
        rows, edges, skipped = _plain_rows(database["installs"])
    except msgspec.DecodeError as exc:
        if ("surrogate" in str(exc) or "escape" in str(exc)) and not replaced and _LONE_SURROGATE.search(data):
            raise _LoneSurrogate from None
        what = "truncated" if "truncated" in str(exc).lower() else "not valid JSON"
        raise IndexError_(f"{what} ({exc})") from None
    except RecursionError:
        raise IndexError_("not a build-cache index: JSON nested deeper than any index") from None
    records = pa.table(rows, schema=RECORD_SCHEMA)
    info = {"db_version": db_version(index.database.version if isinstance(index, _Index) else index["database"].get("version")),
            "records": records.num_rows, "skipped": skipped, "replaced": replaced}
    return records, pa.table(edges, schema=DEPENDENCY_SCHEMA), info


def parse_manifest(data: bytes) -> tuple[list[dict], bool]:
    """Parse a v3 manifest (``{"version": 3, "data": [{contentLength, mediaType,
    compression, checksumAlgorithm, checksum}, ...]}``), clear-signed or not.

    Returns:
        ``(entries, signed)``: the ``data`` entries and whether the manifest was
        PGP clear-signed (the signature is not verified).

    Raises:
        IndexError_: not JSON or no ``data`` list.
    """
    text, signed = strip_armour(data)
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise IndexError_(f"not valid JSON ({str(exc)[:200]})") from None
    except RecursionError:
        raise IndexError_("not a manifest: JSON nested deeper than any manifest") from None
    entries = manifest.get("data") if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise IndexError_("manifest has no data list")
    return entries, signed


def index_entry(entries: list[dict]) -> dict:
    """The index blob entry of an index manifest: the newest
    ``application/vnd.spack.db.v<N>+json`` this reader understands.

    Raises:
        IndexError_: no database entry, or only unknown database versions.
    """
    found = []
    for entry in entries:
        media = str(entry.get("mediaType", ""))
        if media.startswith("application/vnd.spack.db.v"):
            try:
                found.append((int(media.removeprefix("application/vnd.spack.db.v").split("+")[0]), entry))
            except ValueError:
                continue
    known = [(v, e) for v, e in found if v in DB_VERSIONS]
    if not known:
        listed = ", ".join(str(v) for v, _ in found) or "none"
        raise IndexError_(f"no index blob of a known database version in the manifest (listed: {listed})")
    return max(known, key=lambda item: item[0])[1]


def tarball_size(entries: list[dict]) -> int | None:
    """Bytes of the binary (``application/vnd.spack.install.*`` entry's
    ``contentLength``) in a spec manifest's entries; ``None`` if absent."""
    for entry in entries:
        if str(entry.get("mediaType", "")).startswith("application/vnd.spack.install"):
            size = entry.get("contentLength")
            return size if type(size) is int and size >= 0 else None
    return None
