"""Why is there no binary for my spec?  Match a spec, a hash, a ``spec.json`` or an
environment's ``spack.lock`` against the loaded binaries.  Pure pandas, no Panel.

Accepted input (:func:`parse_input`):

* a spec as Spack's command line takes it: ``hdf5@1.14 +mpi %gcc@11 target=zen3
  os=ubuntu22.04`` (also compact: ``hdf5@1.14+mpi%gcc@11``; ``arch=linux-ubuntu22.04-zen3``;
  ``key=value`` and ``key:=a,b`` variants; a version may be ``1.14`` (any 1.14.x),
  ``=1.14.5`` (exactly), a range ``1.12:1.14`` or alternatives ``1.12,1.14``);
* a hash or hash prefix: ``/abc123`` (or ``hdf5/abc123``);
* a ``spec.json`` (``{"spec": {"nodes": [root, deps...]}}``): its root node, by hash
  first, else by every field (and, where the source lists dependencies, their hashes);
* a ``spack.lock`` (``{"concrete_specs": {hash: node}}``): which of its concrete
  specs are binaries here, which are not, and the download size where known.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pandas as pd

from .compat import target_runs_on
from .sources.spackdb import render_variants
from .spack import VersionConstraintError, normalize_compiler, version_key, version_satisfies  # noqa: F401 (re-exported)

_TOKEN = re.compile(
    r"/(?P<hash>[a-z0-9]+)"
    r"|%(?P<compiler>[\w.+-]+(?:@=?[\w.:,-]+)?)"
    r"|@(?P<version>=?[\w.:,-]+)"
    r"|(?P<bool>[+~])(?P<bname>\w[\w-]*)"
    r"|(?P<key>\w[\w-]*)(?P<op>:?==?)(?P<value>[^\s+~%@]+)"
    r"|(?P<name>[A-Za-z_][\w.-]*)"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)"
)
#: Fields compared, in the order differences are listed.
FIELDS = ("version", "compiler", "platform", "os", "target")


class MatchInputError(ValueError):
    """The text is neither a spec, a hash, a spec.json nor a spack.lock (message says where it stopped)."""


@dataclass
class SpecQuery:
    """What a user asked for; ``None`` / empty means "any"."""

    name: str | None = None
    version: str | None = None
    compiler: str | None = None
    platform: str | None = None
    os: str | None = None
    target: str | None = None
    variants: dict[str, str] = field(default_factory=dict)
    hash: str | None = None
    dependency_hashes: frozenset[str] | None = None

    def __str__(self) -> str:
        parts = [self.name or ""]
        if self.version:
            parts[0] += f"@{self.version}"
        parts += [_variant_text(k, v) for k, v in sorted(self.variants.items())]
        if self.compiler:
            parts.append(f"%{self.compiler}")
        parts += [f"{k}={getattr(self, k)}" for k in ("platform", "os", "target") if getattr(self, k)]
        if self.hash:
            parts.append(f"/{self.hash}")
        return " ".join(p for p in parts if p)


@dataclass
class LockFile:
    """The concrete specs of a ``spack.lock``: hash -> (name, version)."""

    specs: dict[str, tuple[str, str]]


def _variant_text(name: str, value: str) -> str:
    return f"+{name}" if value == "true" else f"~{name}" if value == "false" else f"{name}={value}"


_VARIANT = re.compile(
    r"(?P<sign>[+~]{1,2})(?P<bool>[\w.-]+)"
    r"|(?P<key>[\w.-]+):?==?(?P<value>'[^']*'|\"(?:[^\"\\]|\\.)*\"|[^\s+~]+)"
)


def spec_variants(text: str) -> dict[str, str]:
    """A spec row's variant string as ``{name: value}`` (``"true"``/``"false"`` for
    ``+x``/``~x``; values of ``k:=a,b`` as ``"a,b"``, quotes removed).  Reads Spack's
    form (``+a~b k=v``, booleans run together, quoted values) and the pages' form
    (``+a ~b k=v``)."""
    out = {}
    for m in _VARIANT.finditer(str(text)):
        if m["bool"]:
            out[m["bool"]] = "true" if m["sign"][0] == "+" else "false"
        else:
            value = m["value"]
            if value[:1] == '"':
                value = json.loads(value)
            elif value[:1] == "'":
                value = value[1:-1]
            out[m["key"]] = value
    return out


def parse_spec(text: str) -> SpecQuery:
    """A :class:`SpecQuery` from a spec string (see the module docstring).

    Raises:
        MatchInputError: a character that belongs nowhere, or two package names.
    """
    query = SpecQuery()
    for m in _TOKEN.finditer(text.strip()):
        kind = m.lastgroup
        if kind in ("space",):
            continue
        if kind == "hash":
            query.hash = m["hash"]
        elif kind == "compiler":
            query.compiler = normalize_compiler(m["compiler"])
        elif kind == "version":
            query.version = m["version"]
        elif kind == "bname":
            query.variants[m["bname"]] = "true" if m["bool"] == "+" else "false"
        elif kind == "value":
            key, value = m["key"], m["value"]
            if key == "arch":
                parts = value.split("-")
                if len(parts) >= 3:
                    query.platform, query.os, query.target = parts[0], "-".join(parts[1:-1]), parts[-1]
                else:
                    raise MatchInputError(f"arch={value}: expected platform-os-target")
            elif key in ("target", "os", "platform"):
                setattr(query, key, value)
            elif key == "platform_os":
                query.os = value
            else:
                query.variants[key] = value
        elif kind == "name":
            if query.name is not None:
                raise MatchInputError(f"two package names ({query.name!r} and {m['name']!r}); match one spec at a time")
            query.name = m["name"]
        else:
            raise MatchInputError(f"cannot read {text.strip()!r} at {m.group()!r} (position {m.start() + 1})")
    if not (query.name or query.hash):
        raise MatchInputError("give a package name (hdf5@1.14 +mpi) or a hash (/abc123)")
    for what, constraint in (("version", query.version), ("compiler version", (query.compiler or "").partition("@")[2])):
        try:
            if constraint:
                version_satisfies("0", constraint)  # Spack refuses the constraint itself
        except VersionConstraintError as exc:
            raise MatchInputError(f"{what}: {exc}") from None
    return query


def _node_query(node: dict, nodes: list[dict]) -> SpecQuery:
    versions = {n.get("hash"): n.get("version") for n in nodes if isinstance(n, dict)}
    arch = node.get("arch") if isinstance(node.get("arch"), dict) else {}
    target = arch.get("target")
    target = target.get("name") if isinstance(target, dict) else target
    compiler = node.get("compiler")
    if isinstance(compiler, dict) and compiler.get("name"):
        compiler_text = f"{compiler['name']}@{compiler.get('version', '')}".rstrip("@")
    else:
        compiler_text = None
        for dep in node.get("dependencies") or []:
            virtuals = (dep.get("parameters") or {}).get("virtuals") or []
            if set(virtuals) & {"c", "cxx", "fortran"}:
                version = versions.get(dep.get("hash"))
                compiler_text = f"{dep.get('name')}@{version}" if version else dep.get("name")
                break
    deps = frozenset(str(d.get("hash")) for d in node.get("dependencies") or [] if isinstance(d, dict))
    params = node.get("parameters") if isinstance(node.get("parameters"), dict) else {}
    return SpecQuery(
        name=node.get("name"), version=f"={node['version']}" if node.get("version") else None,
        compiler=normalize_compiler(compiler_text) if compiler_text else None,
        platform=arch.get("platform"), os=arch.get("platform_os"), target=target,
        variants=spec_variants(render_variants(params)), hash=node.get("hash"),
        dependency_hashes=deps or None,
    )


def parse_input(text: str) -> SpecQuery | LockFile:
    """Parse what a user pasted: a spec, a hash, a spec.json or a spack.lock.

    Raises:
        MatchInputError: JSON that is neither a spec.json nor a spack.lock, or a
            spec string that cannot be read.
    """
    stripped = text.strip()
    if not stripped.startswith("{"):
        return parse_spec(stripped)
    try:
        doc = json.loads(stripped)
    except ValueError as exc:
        raise MatchInputError(f"not valid JSON ({exc})") from None
    if isinstance(doc.get("concrete_specs"), dict):
        return LockFile({
            str(h): (str(n.get("name", "")), str(n.get("version", "")))
            for h, n in doc["concrete_specs"].items() if isinstance(n, dict)
        })
    nodes = (doc.get("spec") or {}).get("nodes") if isinstance(doc.get("spec"), dict) else None
    if isinstance(nodes, list) and nodes and isinstance(nodes[0], dict):
        return _node_query(nodes[0], nodes)
    if "name" in doc:
        return _node_query(doc, [doc])
    raise MatchInputError("JSON that is neither a spec.json ({spec: {nodes: [...]}}) nor a spack.lock ({concrete_specs: {...}})")


def _compiler_ok(spec_compiler: str, wanted: str) -> bool:
    name, _, version = wanted.partition("@")
    have_name, _, have_version = str(spec_compiler).partition("@")
    return have_name == name and (not version or version_satisfies(have_version, version))


def _differences(row, query: SpecQuery, deps: dict[str, frozenset[str]] | None) -> list[str]:
    out = []
    if query.version and not version_satisfies(row["version"], query.version):
        out.append(f"version {row['version']} (wanted {query.version})")
    if query.compiler and not _compiler_ok(row["compiler"], query.compiler):
        out.append(f"compiler {row['compiler']} (wanted {query.compiler})")
    for name in ("platform", "os"):
        wanted = getattr(query, name)
        if wanted and str(row[name]) != wanted:
            out.append(f"{name} {row[name]} (wanted {wanted})")
    if query.target and str(row["target"]) != query.target:
        runs = target_runs_on(str(row["target"]), query.target) if _known(query.target) else False
        out.append(f"target {row['target']} (wanted {query.target}" + (": it runs there)" if runs else ")"))
    have = spec_variants(row["variants"])
    for name, value in sorted(query.variants.items()):
        got = have.get(name)
        if got is None:
            out.append(f"variant {_variant_text(name, value)} (this binary has no {name})")
        elif got != value and not (set(value.split(",")) <= set(got.split(","))):
            out.append(f"variant {_variant_text(name, got)} (wanted {_variant_text(name, value)})")
    if query.dependency_hashes is not None and deps is not None:
        mine = deps.get(row["hash"])
        if mine is not None and mine != query.dependency_hashes:
            differ = len(query.dependency_hashes ^ mine)
            out.append(f"dependency hashes differ ({differ} of {len(query.dependency_hashes | mine)})")
    return out


def _known(target: str) -> bool:
    import archspec.cpu

    return target in archspec.cpu.TARGETS


def match(specs: pd.DataFrame, query: SpecQuery, dependencies: pd.DataFrame | None = None, limit: int = 10) -> dict:
    """Exact hits and the nearest binaries for ``query``.

    Args:
        specs: spec rows (columns of :attr:`dashboard.model.CacheData.specs`).
        query: from :func:`parse_input`.
        dependencies: :attr:`dashboard.model.CacheData.dependencies` (mirror
            sources) to compare a spec.json's dependency hashes; ``None`` skips.
        limit: nearest rows returned at most.

    Returns:
        ``{"query": str, "exact": DataFrame, "nearest": DataFrame, "candidates": int}``:
        both frames hold the spec rows plus ``agree`` (fields that agree,
        ``int``), ``of`` (fields asked for) and ``differs`` (``"; "``-joined
        differences, ``""`` for exact hits); ``nearest`` is sorted by ``agree``
        (most first), then newest version.  ``candidates``: binaries of the
        package (or with the hash prefix).
    """
    rows = specs
    if query.hash:
        hit = rows[rows["hash"].astype(str).str.startswith(query.hash)]
        if len(hit) or not query.name:
            if len(hit) or query.version is None:
                exact = hit.assign(agree=1, of=1, differs="")
                return {"query": str(query), "exact": exact, "nearest": exact.iloc[:0], "candidates": len(hit)}
    if query.name:
        rows = rows[rows["package"].astype(str) == query.name]
    deps = None
    if query.dependency_hashes is not None and dependencies is not None and len(dependencies):
        deps = dependencies.groupby("hash")["dep_hash"].agg(frozenset).to_dict()
    asked = sum(bool(getattr(query, f)) for f in FIELDS) + len(query.variants) + (query.dependency_hashes is not None and deps is not None)
    diffs = [_differences(r, query, deps) for r in rows.to_dict("records")]
    scored = rows.assign(
        agree=[asked - len(d) for d in diffs], of=asked, differs=["; ".join(d) for d in diffs],
        _v=rows["version"].astype(str).map(version_key) if len(rows) else [],
    )
    exact = scored[scored["differs"] == ""].drop(columns="_v")
    near = scored[scored["differs"] != ""].sort_values(["agree", "_v"], ascending=[False, False], kind="stable").drop(columns="_v")
    return {"query": str(query), "exact": exact, "nearest": near.head(limit), "candidates": len(rows)}


def lock_coverage(specs: pd.DataFrame, lock: LockFile) -> dict:
    """Which concrete specs of a ``spack.lock`` are binaries in ``specs``.

    Returns:
        ``{"total", "cached", "missing", "bytes", "unknown_sizes", "rows"}``:
        counts, the download size in bytes of the cached ones whose size is
        known, how many cached ones have no known size, and ``rows``
        (``hash``, ``package``, ``version``, ``cached`` bool, ``size`` Int64,
        ``tags`` comma-separated), missing first.
    """
    plain = pd.DataFrame({"hash": specs["hash"].astype(str).to_numpy(), "tag": specs["tag"].astype(str).to_numpy(),
                          "size": specs["size"].astype("Float64").to_numpy()})
    by_hash = plain.groupby("hash").agg(size=("size", "max"), tags=("tag", lambda t: ", ".join(sorted(set(t)))))
    rows = pd.DataFrame(
        [(h, name, version) for h, (name, version) in lock.specs.items()], columns=["hash", "package", "version"]
    )
    rows = rows.join(by_hash, on="hash")
    rows["cached"] = rows["tags"].notna()
    rows["size"] = rows["size"].astype("Int64")
    rows["tags"] = rows["tags"].fillna("")
    rows = rows.sort_values(["cached", "package"], kind="stable").reset_index(drop=True)[["hash", "package", "version", "cached", "size", "tags"]]
    cached = rows[rows["cached"]]
    return {
        "total": len(rows),
        "cached": len(cached),
        "missing": int((~rows["cached"]).sum()),
        "bytes": int(cached["size"].sum(skipna=True)) if len(cached) else 0,
        "unknown_sizes": int(cached["size"].isna().sum()),
        "rows": rows,
    }
