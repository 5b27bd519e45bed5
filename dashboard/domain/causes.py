"""Why binaries were rebuilt between two snapshots of a build cache.  Pure pandas and
numpy, no Panel.

A *snapshot* (:class:`Snapshot`) is one side: a tag of a loaded cache, or a whole
source.  Between an old and a new snapshot:

1. **Pairing.**  A hash present on both sides is *unchanged*.  The other specs are
   paired by identity, in rounds from strict to loose: package, version, variants,
   compiler, OS, platform, target and the names of the direct dependencies (the
   spec's place in the DAG); then the same without the dependency names; then
   with one of version, variants, compiler, or OS/platform/target free; then
   package, OS and target; then the package alone.  Within one key the k-th old
   spec pairs with the k-th new one, both ordered by their dependencies' names and
   versions, then by hash.  A new spec left unpaired is *added*, an old one *removed*.
2. **Classes.**  Each changed pair (same identity, new hash) is classified by its own
   changed fields: ``version``, ``variants``, ``patches``, ``compiler``, ``target``,
   ``os`` (OS or platform), ``recipe`` (Spack's ``package_hash`` of the package
   recipe, where both sides have one), ``new dependency``, ``dropped dependency``
   (by name), and, where the source has dependency edges, ``dependency`` (a direct
   dependency is itself a changed pair).
3. **Root causes** (sources with dependency edges: mirrors, OCI registries): a changed
   spec whose change is not explained by a changed dependency below it - it has a
   class of its own (not ``dependency``), or a new hash with no field and no
   dependency changed (``hash only``).  A compiler change is explained by the compiler's
   own node when that node is a changed pair.  Every changed spec is attributed to
   the root causes reachable from it through changed dependencies, and each root
   cause is named by what changed (``"zlib-ng 2.2.1 -> 2.2.3 (version)"``,
   ``"recipe of cmake changed"``): roots with the same name are one cause.
   Page trees have no edges: their changed specs get the field classes only, and a
   change with none of them is ``dependencies or recipe (pages do not say)``.

Spec counts and bytes count binaries of the new side (records that are in the build
cache); externals and records not pushed take part in the DAG but are not counted.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dashboard.core.spack import version_key
from dashboard.domain.match import spec_variants

#: Columns of :attr:`Snapshot.nodes`.
NODE_FIELDS = ("hash", "package", "version", "compiler", "os", "platform", "target", "variants", "package_hash")
#: Own-field classes, in the order they are named.
CLASSES = ("version", "variants", "patches", "compiler", "target", "os", "recipe", "new dependency", "dropped dependency")
#: The class of a change explained by a changed dependency, and of an unexplained new hash.
DEPENDENCY, HASH_ONLY = "dependency", "hash only"
#: What a page tree's changed spec with no own field change is called.
PAGES_UNKNOWN = "dependencies or recipe (pages do not say)"
#: Pairing rounds (see the module docstring): identity fields compared in each.
ROUNDS = (
    ("package", "version", "variants", "compiler", "os", "platform", "target", "_depnames"),
    ("package", "version", "variants", "compiler", "os", "platform", "target"),
    ("package", "variants", "compiler", "os", "platform", "target"),
    ("package", "version", "compiler", "os", "platform", "target"),
    ("package", "version", "variants", "os", "platform", "target"),
    ("package", "version", "variants", "compiler"),
    ("package", "os", "platform", "target"),
    ("package",),
)


@dataclass
class Snapshot:
    """One side of a comparison.

    Attributes:
        label: what it is (a tag, a path or URL), for messages.
        nodes: one row per record, unique ``hash``: :data:`NODE_FIELDS` (``str``;
            ``package_hash`` ``""`` where unknown), ``binary`` (``bool``: in the build
            cache, counted), ``size`` (``Int64`` bytes, ``<NA>`` unknown), ``stacks``
            (``str``, comma-separated; ``""`` for records that are not binaries).
        edges: one row per dependency edge: ``hash`` depends on ``dep_hash``
            (``dep_name``), all ``str``; empty for page trees.
        has_edges: whether the source records dependency edges (mirrors and
            registries do, page trees do not).
    """

    label: str
    nodes: pd.DataFrame
    edges: pd.DataFrame
    has_edges: bool


def snapshot(data, tag: str, label: str | None = None) -> Snapshot:
    """The snapshot of ``tag`` in a loaded cache.

    Args:
        data: a :class:`dashboard.model.CacheData`.
        tag: one of ``data.tags``.

    Raises:
        KeyError: ``tag`` is not in ``data``.
    """
    if tag not in set(map(str, data.specs["tag"].unique())):
        raise KeyError(f"no tag {tag!r} (present: {', '.join(data.tags)})")
    specs = data.specs[data.specs["tag"].astype(str) == tag]
    package_hash = specs["package_hash"] if "package_hash" in specs else pd.Series("", index=specs.index)
    binaries = pd.DataFrame({
        **{c: specs[c].astype(str).to_numpy() for c in NODE_FIELDS if c != "package_hash"},
        "package_hash": package_hash.astype(object).where(package_hash.notna(), "").astype(str).to_numpy(),
        "binary": True, "size": specs["size"].astype("Int64").to_numpy(), "stacks": specs["stacks"].astype(str).to_numpy(),
    })
    nodes = data.nodes[data.nodes["tag"].astype(str) == tag] if len(data.nodes) else data.nodes
    others = pd.DataFrame({
        **{c: (nodes[c] if c in nodes else pd.Series("", index=nodes.index)).fillna("").astype(str).to_numpy() for c in NODE_FIELDS},
        "binary": False, "size": pd.array([pd.NA] * len(nodes), dtype="Int64"), "stacks": "",
    })
    table = pd.concat([binaries, others], ignore_index=True).drop_duplicates("hash", ignore_index=True)
    deps = data.dependencies
    if len(deps):
        page_tag = data.pages.set_index("page_id")["tag"].astype(str)
        deps = deps[deps["page_id"].map(page_tag).to_numpy() == tag]
    edges = pd.DataFrame({"hash": deps["hash"].astype(str).to_numpy(), "dep_hash": deps["dep_hash"].astype(str).to_numpy(),
                          "dep_name": deps["dep_name"].astype(str).to_numpy()}).drop_duplicates(["hash", "dep_hash"], ignore_index=True)
    has_edges = bool(len(data.dependencies)) or bool(len(data.mirrors))
    return Snapshot(label or tag, table, edges, has_edges)


@dataclass
class Causes:
    """Why the new snapshot's binaries have new hashes (see the module docstring).

    Attributes:
        old, new: the two snapshots.
        counts: ``{"unchanged": n, "changed": n, "added": n, "removed": n}`` binaries
            (changed and added of the new side, removed of the old).
        changed: one row per changed binary of the new side: ``hash``, ``old_hash``,
            ``package``, ``version``, ``old_version``, ``compiler``, ``os``, ``target``,
            ``variants``, ``stacks`` (``str``), ``size`` (``Int64`` bytes), ``classes``
            (``str``: its own classes, ``", "``-joined; ``dependency`` when a changed
            dependency explains it), ``root`` (``bool``: a root cause itself),
            ``causes`` (``str``: the names of its root causes, ``"; "``-joined).
        ranked: one row per root cause, most specs first: ``cause`` (``str``),
            ``package`` (``str``), ``classes`` (``str``: the root's own classes), ``roots`` (``int``: changed
            records where it starts), ``specs`` (``int``: binaries it rebuilt, roots
            included), ``bytes`` (``int``, of those with a known size), ``unknown``
            (``int``: binaries of unknown size), ``stacks`` (``int``), ``stack_names``
            (``str``).  Page trees: every changed spec is its own root.
        by_stack: ``stack``, ``cause`` (``str``), ``specs`` (``int``): binaries of each
            stack rebuilt by each cause.
        attributed: ``hash``, ``cause`` (``str``): every (changed binary, cause) pair.
        has_edges: whether root causes were found through dependency edges.
        note: what the user should know about the method (pages: no edges).
    """

    old: Snapshot
    new: Snapshot
    counts: dict
    changed: pd.DataFrame
    ranked: pd.DataFrame
    by_stack: pd.DataFrame
    attributed: pd.DataFrame
    has_edges: bool
    note: str = ""
    _graph: dict = field(default_factory=dict, repr=False)

    def path(self, spec_hash: str, cause: str) -> list[str]:
        """The dependency path from the new binary ``spec_hash`` down to a record where
        ``cause`` starts, through changed dependencies: hashes, ``spec_hash`` first
        (one hash when it is a root of ``cause`` itself); ``[]`` when ``cause`` did
        not rebuild it."""
        down, roots = self._graph.get("down", {}), self._graph.get("roots", {})
        seen, queue = {spec_hash: None}, deque([spec_hash])
        while queue:
            node = queue.popleft()
            if cause in roots.get(node, ()):
                path = [node]
                while seen[path[-1]] is not None:
                    path.append(seen[path[-1]])
                return path[::-1]
            for dep in down.get(node, ()):
                if dep not in seen:
                    seen[dep] = node
                    queue.append(dep)
        return []


def _codes(old: pd.Series, new: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of two text columns in one shared vocabulary."""
    codes, _ = pd.factorize(pd.concat([old, new], ignore_index=True), use_na_sentinel=False)
    return codes[: len(old)], codes[len(old):]


def _dep_signatures(snap: Snapshot) -> tuple[pd.Series, pd.Series]:
    """Per node (indexed like ``snap.nodes``): the sorted names of its direct
    dependencies, and their ``name@version`` (its place in the DAG)."""
    nodes = snap.nodes
    if not len(snap.edges):
        empty = pd.Series("", index=nodes.index)
        return empty, empty
    version = pd.Series(nodes["version"].to_numpy(), index=nodes["hash"].to_numpy())
    e = snap.edges.assign(dep_version=snap.edges["dep_hash"].map(version).fillna(""))
    e = e.sort_values(["hash", "dep_name", "dep_version"], kind="stable")
    names = e.groupby("hash", sort=False)["dep_name"].agg(",".join)
    full = (e["dep_name"] + "@" + e["dep_version"]).groupby(e["hash"], sort=False).agg(",".join)
    keyed = nodes["hash"]
    return keyed.map(names).fillna("").set_axis(nodes.index), keyed.map(full).fillna("").set_axis(nodes.index)


def _prepared(snap: Snapshot) -> pd.DataFrame:
    """``snap.nodes`` with the pairing helpers: variants without patches, patches,
    dependency names and signature."""
    nodes = snap.nodes
    parsed = {text: spec_variants(text) for text in pd.unique(nodes["variants"])}
    plain = {t: " ".join(f"{k}={v}" for k, v in sorted(p.items()) if k != "patches") for t, p in parsed.items()}
    patches = {t: p.get("patches", "") for t, p in parsed.items()}
    names, full = _dep_signatures(snap)
    return nodes.assign(_variants=nodes["variants"].map(plain), _patches=nodes["variants"].map(patches), _depnames=names, _depsig=full)


def _pair(old: pd.DataFrame, new: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(i_old, i_new)`` of paired changed specs (see :data:`ROUNDS`)."""
    free_old = np.ones(len(old), bool)
    free_new = np.ones(len(new), bool)
    columns = {c: _codes(old[c if c != "variants" else "_variants"].astype(str), new[c if c != "variants" else "_variants"].astype(str))
               for c in {c for r in ROUNDS for c in r}}
    sig = _codes(old["_depsig"].astype(str), new["_depsig"].astype(str))
    vrank = {v: i for i, v in enumerate(sorted(set(old["version"]) | set(new["version"]), key=version_key))}
    out_o, out_n = [], []
    for fields in ROUNDS:
        io, inew = np.flatnonzero(free_old), np.flatnonzero(free_new)
        if not len(io) or not len(inew):
            break
        frames = []
        for side, idx, frame in ((0, io, old), (1, inew, new)):
            f = pd.DataFrame({c: columns[c][side][idx] for c in fields})
            f["_pos"] = idx
            f["_sig"] = sig[side][idx]
            f["_v"] = frame["version"].iloc[idx].map(vrank).to_numpy()
            f["_h"] = frame["hash"].iloc[idx].to_numpy()
            f = f.sort_values([*fields, "_sig", "_v", "_h"], kind="stable")
            f["_n"] = f.groupby(list(fields), sort=False).cumcount()
            frames.append(f)
        pairs = frames[0].merge(frames[1], on=[*fields, "_n"], suffixes=("_o", "_n"))
        if len(pairs):
            po, pn = pairs["_pos_o"].to_numpy(), pairs["_pos_n"].to_numpy()
            free_old[po] = False
            free_new[pn] = False
            out_o.append(po)
            out_n.append(pn)
    if not out_o:
        return np.array([], int), np.array([], int)
    return np.concatenate(out_o), np.concatenate(out_n)


def _variant_diff(old: str, new: str) -> str:
    """The variants that differ, as ``old -> new`` text (``+mpi -> ~mpi``)."""
    a, b = spec_variants(old), spec_variants(new)
    a.pop("patches", None)
    b.pop("patches", None)

    def show(values, keys):
        parts = []
        for k in keys:
            v = values.get(k)
            parts.append(f"{k}=(none)" if v is None else ("+" if v == "true" else "~") + k if v in ("true", "false") else f"{k}={v}")
        return " ".join(parts)

    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"{show(a, keys)} -> {show(b, keys)}"


def compare(old: Snapshot, new: Snapshot) -> Causes:
    """Pair, classify and attribute the changes from ``old`` to ``new`` (module docstring).

    Returns:
        A :class:`Causes`.  Memory and time grow with the records of both sides and
        the edges between changed records (measured in ``benchmarks/causes.py``).
    """
    has_edges = old.has_edges and new.has_edges
    o, n = _prepared(old), _prepared(new)
    same = n["hash"].isin(o["hash"]).to_numpy()
    gone = ~o["hash"].isin(n["hash"]).to_numpy()
    oc, nc = o[gone].reset_index(drop=True), n[~same].reset_index(drop=True)
    io, inew = _pair(oc, nc)
    po, pn = oc.iloc[io].reset_index(drop=True), nc.iloc[inew].reset_index(drop=True)

    # own classes of each pair, as boolean columns
    own = {
        "version": po["version"].to_numpy() != pn["version"].to_numpy(),
        "variants": po["_variants"].to_numpy() != pn["_variants"].to_numpy(),
        "patches": po["_patches"].to_numpy() != pn["_patches"].to_numpy(),
        "compiler": po["compiler"].to_numpy() != pn["compiler"].to_numpy(),
        "target": po["target"].to_numpy() != pn["target"].to_numpy(),
        "os": (po["os"].to_numpy() != pn["os"].to_numpy()) | (po["platform"].to_numpy() != pn["platform"].to_numpy()),
        "recipe": (po["package_hash"].to_numpy() != pn["package_hash"].to_numpy()) & (po["package_hash"].to_numpy() != "")
        & (pn["package_hash"].to_numpy() != ""),
    }
    pair_old = dict(zip(pn["hash"], po["hash"]))  # new hash -> old hash
    gained = np.zeros(len(pn), bool)
    dropped = np.zeros(len(pn), bool)
    explained: dict[str, list[str]] = {}
    gained_names: dict[str, list[str]] = {}
    dropped_names: dict[str, list[str]] = {}
    if has_edges and len(pn):
        # direct dependencies of both sides of each pair, by name
        ne = new.edges[new.edges["hash"].isin(pair_old)]
        oe = old.edges[old.edges["hash"].isin(set(pair_old.values()))]
        ne = ne.assign(_pair=ne["hash"])
        oe = oe.assign(_pair=oe["hash"].map({v: k for k, v in pair_old.items()}))
        both = ne.merge(oe, on=["_pair", "dep_name"], how="outer", suffixes=("_n", "_o"), indicator=True)
        g = both[both["_merge"] == "left_only"]
        d = both[both["_merge"] == "right_only"]
        gained_names = g.groupby("_pair")["dep_name"].agg(lambda s: sorted(set(s))).to_dict()
        dropped_names = d.groupby("_pair")["dep_name"].agg(lambda s: sorted(set(s))).to_dict()
        kept = both[(both["_merge"] == "both") & (both["dep_hash_n"] != both["dep_hash_o"])]
        # a changed dependency explains the change when it is itself a changed pair
        kept = kept[kept["dep_hash_n"].map(pair_old).to_numpy() == kept["dep_hash_o"].to_numpy()]
        explained = kept.groupby("_pair")["dep_hash_n"].agg(lambda s: sorted(set(s))).to_dict()
        hashes = pn["hash"].to_numpy()
        gained = np.array([h in gained_names for h in hashes], bool)
        dropped = np.array([h in dropped_names for h in hashes], bool)
        # a compiler change explained by the compiler's own changed node is not the spec's own
        if own["compiler"].any():
            changed_dep_names = kept.groupby("_pair")["dep_name"].agg(set).to_dict()
            compiler_name = pn["compiler"].astype(str).str.split("@").str[0].to_numpy()
            own["compiler"] &= np.array([c not in changed_dep_names.get(h, ()) for h, c in zip(hashes, compiler_name)], bool)
    own["new dependency"], own["dropped dependency"] = gained, dropped
    own_any = np.zeros(len(pn), bool)
    for cls in CLASSES:
        own_any |= own[cls]
    has_dep = np.array([h in explained for h in pn["hash"]], bool) if has_edges else np.zeros(len(pn), bool)
    is_root = own_any | ~has_dep if has_edges else np.ones(len(pn), bool)

    # the name of each root's cause
    names = []
    for k in range(len(pn)):
        if not is_root[k]:
            names.append("")
            continue
        a, b, pkg = po.iloc[k], pn.iloc[k], pn["package"].iat[k]
        parts = []
        if own["version"][k]:
            parts.append(f"{pkg} {a['version']} -> {b['version']} (version)")
        if own["variants"][k]:
            parts.append(f"{pkg} {_variant_diff(a['variants'], b['variants'])} (variants)")
        if own["patches"][k]:
            parts.append(f"patches of {pkg} changed")
        if own["compiler"][k]:
            parts.append(f"{pkg} %{a['compiler']} -> %{b['compiler']} (compiler)")
        if own["target"][k]:
            parts.append(f"{pkg} target={a['target']} -> target={b['target']} (target)")
        if own["os"][k]:
            parts.append(f"{pkg} {a['platform']}-{a['os']} -> {b['platform']}-{b['os']} (OS)")
        if own["recipe"][k]:
            parts.append(f"recipe of {pkg} changed")
        if own["new dependency"][k]:
            parts.append(f"{pkg} gained dependency {', '.join(gained_names[b['hash']])}")
        if own["dropped dependency"][k]:
            parts.append(f"{pkg} dropped dependency {', '.join(dropped_names[b['hash']])}")
        if not parts:
            parts.append(f"{pkg}: new hash, no field or dependency changed" if has_edges else f"{pkg}: {PAGES_UNKNOWN}")
        names.append("; ".join(parts))
    pn = pn.assign(_cause=names, _root=is_root)
    classes, own_classes = [], []
    for k in range(len(pn)):
        cls = [c for c in CLASSES if own[c][k]] or ([] if has_dep[k] else [HASH_ONLY if has_edges else PAGES_UNKNOWN])
        own_classes.append(", ".join(cls))
        classes.append(", ".join(cls + [DEPENDENCY] if has_dep[k] else cls))
    pn["_classes"], pn["_own"] = classes, own_classes

    # attribution: each root's cause flows up through explained edges (parent <- changed dep)
    cause_ids, cause_names = pd.factorize(pn.loc[pn["_root"], "_cause"])
    pos = pd.Series(np.arange(len(pn)), index=pn["hash"].to_numpy())
    rel_node = pos[pn.loc[pn["_root"], "hash"].to_numpy()].to_numpy()
    rel = pd.DataFrame({"node": rel_node, "cause": cause_ids})
    down: dict[str, list[str]] = explained
    if has_edges and explained:
        parent = np.concatenate([np.full(len(v), pos[k]) for k, v in explained.items()])
        child = pos[np.concatenate([v for v in explained.values()])].to_numpy()
        up = pd.DataFrame({"child": child, "parent": parent})
        width = max(len(cause_names), 1)
        seen = np.unique(rel["node"].to_numpy().astype(np.int64) * width + rel["cause"].to_numpy())
        frontier = rel
        parts = [rel]
        while len(frontier):
            step = up.merge(frontier, left_on="child", right_on="node")[["parent", "cause"]].rename(columns={"parent": "node"})
            keys = step["node"].to_numpy().astype(np.int64) * width + step["cause"].to_numpy()
            keys, first = np.unique(keys, return_index=True)
            fresh = ~np.isin(keys, seen, assume_unique=True)
            frontier = step.iloc[first[fresh]].reset_index(drop=True)
            seen = np.union1d(seen, keys[fresh])
            parts.append(frontier)
        rel = pd.concat(parts, ignore_index=True)
    rel = rel.assign(hash=pn["hash"].to_numpy()[rel["node"].to_numpy()], cause=np.asarray(cause_names, dtype=object)[rel["cause"].to_numpy()]
                     if len(cause_names) else pd.Series(dtype=str))
    binary = pn["binary"].to_numpy()
    attributed = rel[binary[rel["node"].to_numpy()]][["hash", "cause"]].reset_index(drop=True)
    causes_of = attributed.groupby("hash")["cause"].agg(lambda s: "; ".join(sorted(s)))

    b = pn[binary]
    changed = pd.DataFrame({
        "hash": b["hash"], "old_hash": b["hash"].map(pair_old), "package": b["package"], "version": b["version"],
        "old_version": po.loc[binary, "version"].to_numpy(), "compiler": b["compiler"], "os": b["os"], "target": b["target"],
        "variants": b["variants"], "stacks": b["stacks"], "size": b["size"].astype("Int64"), "classes": b["_classes"], "root": b["_root"],
        "causes": b["hash"].map(causes_of).fillna(""),
    }).reset_index(drop=True)
    changed = changed.astype({c: str for c in changed.columns if c not in ("size", "root")}).astype({"root": bool})

    ranked, by_stack = _rank(attributed, changed, pn)
    if not has_edges:
        note = "page trees record no dependency edges: changes are classified by their own fields only, not traced to root causes"
    else:
        note = ""
    counts = {
        "unchanged": int((same & n["binary"].to_numpy()).sum()),
        "changed": int(binary.sum()),
        "added": int(nc["binary"].sum() - binary.sum()),
        "removed": int(oc["binary"].sum() - po["binary"].sum()),
    }
    graph = {"down": down, "roots": {h: {c} for h, c in zip(pn.loc[pn["_root"], "hash"], pn.loc[pn["_root"], "_cause"])}}
    return Causes(old, new, counts, changed, ranked, by_stack, attributed, has_edges, note, graph)


def _rank(attributed: pd.DataFrame, changed: pd.DataFrame, pn: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per cause: specs, bytes, stacks (most specs first); and per stack and cause."""
    info = changed.set_index("hash")[["size", "stacks"]]
    a = attributed.join(info, on="hash")
    roots = pn[pn["_root"]].groupby("_cause").agg(package=("package", "first"), classes=("_own", "first"), roots=("hash", "size"))
    long = a.assign(stack=a["stacks"].str.split(", ")).explode("stack")
    long = long[long["stack"].fillna("").astype(bool)]
    by_stack = long.groupby(["stack", "cause"]).size().rename("specs").reset_index()
    stack_names = long.groupby("cause")["stack"].agg(lambda s: ", ".join(sorted(set(s))))
    if len(a):
        grouped = a.groupby("cause").agg(specs=("hash", "size"), bytes=("size", lambda s: int(s.sum(skipna=True))),
                                         unknown=("size", lambda s: int(s.isna().sum())))
    else:
        grouped = pd.DataFrame({c: pd.Series(dtype=int) for c in ("specs", "bytes", "unknown")}, index=pd.Index([], name="cause"))
    ranked = roots.join(grouped, how="left").fillna({"specs": 0, "bytes": 0, "unknown": 0})
    ranked["stack_names"] = stack_names.reindex(ranked.index).fillna("")
    ranked["stacks"] = ranked["stack_names"].map(lambda t: len(t.split(", ")) if t else 0)
    ranked = ranked.astype({"specs": int, "bytes": int, "unknown": int, "roots": int}).reset_index(names="cause")
    ranked = ranked.sort_values(["specs", "bytes", "cause"], ascending=[False, False, True], kind="stable").reset_index(drop=True)
    return ranked[["cause", "package", "classes", "roots", "specs", "bytes", "unknown", "stacks", "stack_names"]], by_stack
