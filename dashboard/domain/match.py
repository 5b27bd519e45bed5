"""Why is there no binary for my spec?  Match a spec, a hash, a ``spec.json`` or an
environment's ``spack.lock`` against the loaded binaries.  Pure pandas, no Panel.

Accepted input (:func:`parse_input`):

* a spec as Spack 1.x reads it (:mod:`dashboard.core.specsyntax`): ``hdf5@1.14 +mpi
  target=zen3 os=ubuntu22.04 %gcc@11`` (what follows ``%gcc`` constrains the compiler),
  ``^mpich@4`` (a dependency anywhere below), ``%c=gcc`` (the compiler of C),
  ``key=a,b`` (values include a and b) and ``key:=a,b`` (exactly), versions ``1.14``
  (1.14 and every 1.14.x), ``=1.14.5``, ``1.12:1.14``, ``1.12,1.14``, targets ``zen2``,
  ``:zen2``, ``x86_64:``; exact hits are what Spack's ``Spec.satisfies`` selects;
* a hash or hash prefix: ``/abc123`` (or ``hdf5/abc123``);
* a ``spec.json`` (``{"spec": {"nodes": [root, deps...]}}``): its root node, by hash
  first, else by every field (and, where the source lists dependencies, their hashes);
* a ``spack.lock`` (``{"concrete_specs": {hash: node}}``): which of its concrete
  specs are binaries here, which are not, and the download size where known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from collections.abc import Mapping

import numpy as np
import pandas as pd

from dashboard.core.compat import target_runs_on, why_not
from dashboard.core.spack import normalize_compiler, render_variants, version_key, version_satisfies  # noqa: F401 (re-exported)
from dashboard.core.specsyntax import Graph, Node, SpecNode, SpecSyntaxError, satisfies, variant_values
from dashboard.core.specsyntax import parse as parse_spack

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
    #: The whole query as Spack parses it (dependencies included): what selects exact hits.
    constraint: Node | None = None
    #: The text the query was parsed from (shown back as it was written).
    text: str | None = None

    def __str__(self) -> str:
        if self.text:
            return " ".join(self.text.split())
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
    """The concrete specs of a ``spack.lock``: hash -> (name, version); ``externals``:
    the hashes of those that are externals (a node with an ``external`` entry: a system
    compiler or library, never a binary)."""

    specs: dict[str, tuple[str, str]]
    externals: frozenset[str] = frozenset()


def _variant_text(name: str, value: str) -> str:
    return f"+{name}" if value == "true" else f"~{name}" if value == "false" else f"{name}={value}"


def spec_variants(text: str) -> dict[str, str]:
    """A spec row's variant string as ``{name: value}`` (``"true"``/``"false"`` for
    ``+x``/``~x``; values of ``k:=a,b`` as ``"a,b"``, sorted; flags space-separated),
    read by :func:`dashboard.core.specsyntax.variant_values` (Spack's form and the pages')."""
    return {name: ("true" if values[0] else "false") if kind == "bool" else (" " if kind == "flag" else ",").join(values)
            for name, (kind, values) in variant_values(str(text)).items()}


def parse_spec(text: str) -> SpecQuery:
    """A :class:`SpecQuery` from a spec string, read as Spack 1.x reads it
    (:func:`dashboard.core.specsyntax.parse`): ``constraint`` holds the whole query; the other
    fields are its root's constraints (and the compiler: the first ``%`` of the root),
    used to rank the nearest binaries and say what differs.

    Raises:
        MatchInputError: text Spack refuses (the message marks where), or a query with
            neither a name, a hash nor any other constraint.
    """
    try:
        root = parse_spack(text)
    except SpecSyntaxError as exc:
        raise MatchInputError(str(exc)) from None
    if not (root.name or root.hash or root.versions or root.variants or root.edges or root.platform or root.os or root.target):
        raise MatchInputError("give a package name (hdf5@1.14 +mpi) or a hash (/abc123)")
    variants = {name: ("true" if v.values[0] else "false") if isinstance(v.values[0], bool) else ",".join(v.values)
                for name, v in root.variants.items()}
    compiler = next((e.node for e in root.edges if e.direct and e.node.name), None)
    return SpecQuery(
        name=root.name, version=root.versions, hash=root.hash, platform=root.platform, os=root.os, target=root.target,
        compiler=f"{compiler.name}@{compiler.versions}" if compiler and compiler.versions else compiler.name if compiler else None,
        variants=variants, constraint=root, text=text.strip(),
    )


def _node_query(node: dict, nodes: list[dict]) -> SpecQuery:
    if not isinstance(node.get("name"), str) or not node["name"]:
        raise MatchInputError("the spec.json's first node has no name")
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
        raise MatchInputError(f"not valid JSON ({str(exc)[:200]})") from None
    except RecursionError:
        raise MatchInputError("JSON nested too deep to be a spec.json or a spack.lock") from None
    if isinstance(doc.get("concrete_specs"), dict):
        nodes = {str(h): n for h, n in doc["concrete_specs"].items() if isinstance(n, dict)}
        return LockFile({h: (str(n.get("name", "")), str(n.get("version", ""))) for h, n in nodes.items()},
                        frozenset(h for h, n in nodes.items() if n.get("external")))
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
        if _known(query.target):  # archspec says whether it runs there, and if not why
            reason = why_not(str(row["target"]), query.target)
            out.append(f"target {row['target']} (wanted {query.target}: " + (f"cannot run there, {reason})" if reason else "it runs there)"))
        else:
            out.append(f"target {row['target']} (wanted {query.target})")
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


class _Lookup(Mapping):
    """Rows of a frame by a text key, found when asked (sorted keys, binary search):
    the graph of millions of specs is never built whole, only what a query visits."""

    def __init__(self, keys: pd.Series, make):
        order = np.argsort(keys.to_numpy(dtype=object), kind="stable")
        self._keys = keys.to_numpy(dtype=object)[order]
        self._rows = order
        self._make = make
        self._cache: dict = {}

    def _positions(self, key):
        lo = int(np.searchsorted(self._keys, key, side="left"))
        hi = int(np.searchsorted(self._keys, key, side="right"))
        return self._rows[lo:hi]

    def __getitem__(self, key):
        if key not in self._cache:
            rows = self._positions(key) if isinstance(key, str) else []
            if not len(rows):
                raise KeyError(key)
            self._cache[key] = self._make(rows)
        return self._cache[key]

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(dict.fromkeys(self._keys))


def spec_graph(specs: pd.DataFrame, dependencies: pd.DataFrame | None = None, nodes: pd.DataFrame | None = None) -> Graph:
    """The concrete specs and their dependency edges, for :func:`dashboard.core.specsyntax.satisfies`.

    Args:
        specs: :attr:`dashboard.model.CacheData.specs` (a hash in several tags: its first row).
        dependencies: :attr:`~dashboard.model.CacheData.dependencies` (mirror sources).
        nodes: :attr:`~dashboard.model.CacheData.nodes`: the records that are not
            binaries (externals such as a system gcc), which ``%`` and ``^`` may name.
    """
    # only the hashes are gathered up front; a node's other fields are read when a
    # query visits it (converting millions of rows to text would cost seconds a query)
    parts = [(specs, specs["n_deps"].notna().to_numpy())]
    if nodes is not None and len(nodes):
        parts.append((nodes, None))
    hashes = pd.concat([frame["hash"].astype(str) for frame, _ in parts], ignore_index=True)
    starts = np.cumsum([0] + [len(frame) for frame, _ in parts])

    def node(rows) -> SpecNode:
        i = int(rows[0])
        k = int(np.searchsorted(starts, i, side="right")) - 1
        frame, edges_known = parts[k]
        j = i - int(starts[k])
        field = lambda c: str(frame[c].iat[j])  # noqa: E731
        return SpecNode(hash=field("hash"), name=field("package"), version=field("version"), variants=field("variants"),
                        platform=field("platform"), os=field("os"), target=field("target"), compiler=field("compiler"),
                        has_edges=True if edges_known is None else bool(edges_known[j]))

    if dependencies is None or not len(dependencies):
        return Graph(_Lookup(hashes, node), {})
    dep_hash, deptypes, virtuals = (dependencies[c] for c in ("dep_hash", "deptypes", "virtuals"))

    def edges(rows) -> list:
        return list(dict.fromkeys(
            (str(dep_hash.iat[i]), frozenset(filter(None, str(deptypes.iat[i]).split(","))), frozenset(filter(None, str(virtuals.iat[i]).split(","))))
            for i in rows))

    return Graph(_Lookup(hashes, node), _EdgeLookup(dependencies["hash"].astype(str), edges))


class _EdgeLookup(_Lookup):
    """Edges by hash; a hash without edges has none (not a missing key)."""

    def get(self, key, default=()):
        try:
            return self[key]
        except KeyError:
            return default


def match(specs: pd.DataFrame, query: SpecQuery, dependencies: pd.DataFrame | None = None, limit: int = 10,
          nodes: pd.DataFrame | None = None) -> dict:
    """Exact hits and the nearest binaries for ``query``.

    Args:
        specs: spec rows (columns of :attr:`dashboard.model.CacheData.specs`).
        query: from :func:`parse_input`.
        dependencies: :attr:`dashboard.model.CacheData.dependencies` (mirror
            sources): ``^dep`` and ``%dep`` are answered on these edges as Spack
            answers them; a spec.json's dependency hashes are compared; ``None``: a
            spec's ``%`` is its ``compiler`` column (as for cache.spack.io pages).
        limit: nearest rows returned at most.
        nodes: :attr:`dashboard.model.CacheData.nodes` (the index's records that
            are not binaries, e.g. an external gcc that ``%gcc@12`` names).

    Returns:
        ``{"query": str, "exact": DataFrame, "nearest": DataFrame, "candidates": int,
        "not_binaries": DataFrame}``:
        both frames hold the spec rows plus ``agree`` (fields that agree,
        ``int``), ``of`` (fields asked for) and ``differs`` (``"; "``-joined
        differences, ``""`` for exact hits); exact hits are what Spack's
        ``Spec.satisfies`` selects; ``nearest`` lists first the binaries that run
        on the wanted target (when one is asked for, by archspec's rule), each
        group sorted by ``agree`` (most first), then newest version.  ``candidates``: binaries of the
        package (or with the hash prefix).  ``not_binaries``: records of the index
        that match but are no binary (``hash``, ``package``, ``version``, ``status``:
        ``"external"`` or ``"not pushed"``), never counted as missing.
    """
    rows = specs
    if query.hash:
        rows = rows[rows["hash"].astype(str).str.startswith(query.hash)]
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
    graph = spec_graph(specs, dependencies, nodes) if query.constraint is not None else None
    if graph is not None:
        hit = np.array([satisfies(graph, h, query.constraint) for h in rows["hash"].astype(str)], dtype=bool)
        scored.loc[hit, "differs"] = ""
        scored.loc[hit, "agree"] = asked
        scored.loc[~hit & (scored["differs"] == ""), "differs"] = "dependencies differ"
    else:
        hit = (scored["differs"] == "").to_numpy()
    exact = scored[hit].drop(columns="_v")
    near = scored[~hit]
    if query.target and _known(query.target) and len(near):  # binaries that cannot run on the wanted target go last
        targets = near["target"].astype(str)
        runs = {t: t == query.target or target_runs_on(t, query.target) for t in targets.unique()}
        near = near.assign(_runs=targets.map(runs).astype(bool))
    else:
        near = near.assign(_runs=True)
    near = near.sort_values(["_runs", "agree", "_v"], ascending=[False, False, False], kind="stable").drop(columns=["_v", "_runs"])
    return {"query": str(query), "exact": exact, "nearest": near.head(limit), "candidates": len(rows),
            "not_binaries": _not_binaries(graph, query, nodes)}


def _not_binaries(graph: Graph | None, query: SpecQuery, nodes: pd.DataFrame | None) -> pd.DataFrame:
    """Records of the index that match ``query`` but are no binary: ``hash``, ``package``,
    ``version``, ``status`` (``"external"``: Spack never pushes it; ``"not pushed"``)."""
    columns = ["hash", "package", "version", "status"]
    if nodes is None or not len(nodes) or graph is None:
        return pd.DataFrame(columns=columns)
    candidates = nodes if not query.name else nodes[nodes["package"].astype(str) == query.name]
    if query.hash:
        candidates = candidates[candidates["hash"].astype(str).str.startswith(query.hash)]
    if not len(candidates):
        return pd.DataFrame(columns=columns)
    keep = np.array([satisfies(graph, h, query.constraint) for h in candidates["hash"].astype(str)], dtype=bool)
    found = candidates[keep].drop_duplicates("hash")
    status = np.where(found["external"].astype(bool), "external", "not pushed") if len(found) else []
    return found.assign(status=status)[columns].reset_index(drop=True)


def lock_coverage(specs: pd.DataFrame, lock: LockFile, nodes: pd.DataFrame | None = None) -> dict:
    """Which concrete specs of a ``spack.lock`` are binaries in ``specs``.

    Args:
        specs: spec rows (:attr:`dashboard.model.CacheData.specs`).
        lock: from :func:`parse_input`.
        nodes: :attr:`dashboard.model.CacheData.nodes`: records of the index that
            are not binaries (a lock's spec found there was not pushed).

    Returns:
        ``{"total", "cached", "external", "not_pushed", "missing", "bytes",
        "unknown_sizes", "rows"}``: counts (externals and specs the index records
        without a binary are never "missing"), the download size in bytes of the
        cached ones whose size is known, how many cached ones have no known size, and
        ``rows`` (``hash``, ``package``, ``version``, ``status`` — ``"cached"``,
        ``"external"``, ``"not pushed"`` or ``"missing"`` —, ``cached`` bool,
        ``size`` Int64, ``tags`` comma-separated), missing first.
    """
    plain = pd.DataFrame({"hash": specs["hash"].astype(str).to_numpy(), "tag": specs["tag"].astype(str).to_numpy(),
                          "size": specs["size"].astype("Float64").to_numpy()})
    by_hash = plain.groupby("hash").agg(size=("size", "max"), tags=("tag", lambda t: ", ".join(sorted(set(t)))))
    rows = pd.DataFrame(
        [(h, name, version) for h, (name, version) in lock.specs.items()], columns=["hash", "package", "version"]
    )
    rows = rows.join(by_hash, on="hash")
    rows["cached"] = rows["tags"].notna()
    recorded = set(nodes["hash"].astype(str)) if nodes is not None and len(nodes) else set()
    external = set(lock.externals) | (set(nodes.loc[nodes["external"].astype(bool), "hash"].astype(str)) if recorded else set())
    rows["status"] = np.select(
        [rows["cached"], rows["hash"].isin(external), rows["hash"].isin(recorded)],
        ["cached", "external", "not pushed"], "missing")
    rows["size"] = rows["size"].astype("Int64")
    rows["tags"] = rows["tags"].fillna("")
    order = rows["status"].map({"missing": 0, "not pushed": 1, "external": 2, "cached": 3})
    rows = rows.assign(_o=order).sort_values(["_o", "package"], kind="stable").reset_index(drop=True)
    rows = rows[["hash", "package", "version", "status", "cached", "size", "tags"]]
    cached = rows[rows["cached"]]
    return {
        "total": len(rows),
        "cached": len(cached),
        "external": int((rows["status"] == "external").sum()),
        "not_pushed": int((rows["status"] == "not pushed").sum()),
        "missing": int((rows["status"] == "missing").sum()),
        "bytes": int(cached["size"].sum(skipna=True)) if len(cached) else 0,
        "unknown_sizes": int(cached["size"].isna().sum()),
        "rows": rows,
    }
