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
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals

from dashboard.core.spack import version_key
from dashboard.domain.match import spec_variants

#: Text fields of :attr:`Snapshot.nodes` (categorical), besides ``hash``.
NODE_FIELDS = ("package", "version", "compiler", "os", "platform", "target", "variants", "package_hash")
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
        nodes: one row per record, unique ``hash`` (``str``): :data:`NODE_FIELDS`
            (``category``; ``package_hash`` ``NaN`` where unknown), ``binary``
            (``bool``: in the build cache, counted), ``size`` (``Int64`` bytes,
            ``<NA>`` unknown), ``stacks`` (``category``, comma-separated; ``""``
            for records that are not binaries).
        edges: one row per dependency edge of a record: ``parent`` depends on ``child``
            (``int32`` positions in ``nodes``; ``child`` ``-1`` when the index holds no
            record for it) named ``dep_name`` (``category``); empty for page trees.
            Positions, not hashes: a snapshot holds no text per edge, so the cache it
            was made from can be let go.
        has_edges: whether the source records dependency edges (mirrors and
            registries do, page trees do not).
    """

    label: str
    nodes: pd.DataFrame
    edges: pd.DataFrame
    has_edges: bool


def _categorical(values) -> pd.Categorical:
    """``values`` as a categorical with ``object`` categories (codes reused, not recomputed)."""
    cat = values.array if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype) else pd.Categorical(values)
    return pd.Categorical.from_codes(cat.codes, categories=pd.Index(list(cat.categories), dtype=object))


def snapshot(data, tag: str, label: str | None = None) -> Snapshot:
    """The snapshot of ``tag`` in a loaded cache (a :class:`dashboard.model.CacheData`).

    Raises:
        KeyError: ``tag`` is not in ``data``.
    """
    specs = data.specs
    present = set(map(str, specs["tag"].unique()))
    if tag not in present:
        raise KeyError(f"no tag {tag!r} (present: {', '.join(sorted(present))})")
    if len(present) > 1:
        specs = specs[(specs["tag"] == tag).to_numpy()]
    nodes = data.nodes
    if len(nodes):
        nodes = nodes[(nodes["tag"].astype(str) == tag).to_numpy()]
        nodes = nodes[~pc.is_in(pa.array(nodes["hash"].astype(str)), value_set=pa.array(specs["hash"])).to_numpy(zero_copy_only=False)]
        nodes = nodes.drop_duplicates("hash")
    n_b, n_o = len(specs), len(nodes)
    table = {"hash": pd.concat([specs["hash"].astype("str"), nodes["hash"].astype("str")], ignore_index=True)}
    for name in NODE_FIELDS:
        binaries = _categorical(specs[name]) if name in specs else pd.Categorical([np.nan] * n_b)
        others = _categorical(pd.Series(nodes[name].astype(object).where(nodes[name].astype(str) != "", np.nan) if name in nodes else [np.nan] * n_o, dtype=object))
        table[name] = union_categoricals([binaries, others], ignore_order=True) if n_o else binaries
    table["binary"] = np.r_[np.ones(n_b, bool), np.zeros(n_o, bool)]
    table["size"] = pd.concat([specs["size"].astype("Int64"), pd.Series(pd.NA, index=range(n_o), dtype="Int64")], ignore_index=True)
    table["stacks"] = union_categoricals([_categorical(specs["stacks"]), _categorical(pd.Series([""] * n_o, dtype=object))], ignore_order=True) if n_o else _categorical(specs["stacks"])
    deps = data.dependencies
    if len(deps) and data.specs["tag"].nunique() > 1:
        page_tag = np.full(int(data.pages["page_id"].max()) + 1, False)
        page_tag[data.pages.loc[(data.pages["tag"].astype(str) == tag).to_numpy(), "page_id"].to_numpy()] = True
        deps = deps[page_tag[deps["page_id"].to_numpy()]]
    nodes_table = pd.DataFrame(table)
    parent = _positions(deps["hash"].astype("str"), nodes_table["hash"])
    keep = parent >= 0  # an edge of a record outside the snapshot: dropped
    edges = pd.DataFrame({"parent": parent[keep], "child": _positions(deps["dep_hash"].astype("str"), nodes_table["hash"])[keep],
                          "dep_name": _categorical(deps["dep_name"])[keep]})
    has_edges = bool(len(data.dependencies)) or bool(len(data.mirrors))
    return Snapshot(label or tag, nodes_table, edges, has_edges)


@dataclass
class Causes:
    """Why the new snapshot's binaries have new hashes (see the module docstring).

    Attributes:
        old, new: the two snapshots.
        counts: ``{"unchanged": n, "changed": n, "added": n, "removed": n}`` binaries
            (changed and added of the new side, removed of the old).
        changed: one row per changed binary of the new side: ``hash``, ``old_hash``
            (``str``), ``package``, ``version``, ``old_version``, ``compiler``, ``os``,
            ``target``, ``variants``, ``stacks`` (``category``), ``size`` (``Int64``
            bytes), ``classes`` (``category``: its own classes, ``", "``-joined;
            ``dependency`` when a changed dependency explains it), ``root`` (``bool``: a
            root cause itself), ``causes`` (``category``: the names of its root causes,
            ``"; "``-joined).
        ranked: one row per root cause, most specs first: ``cause`` (``str``),
            ``package`` (``str``), ``classes`` (``str``: the root's own classes), ``roots``
            (``int``: changed records where it starts), ``specs`` (``int``: binaries it
            rebuilt, roots included), ``bytes`` (``int``, of those with a known size),
            ``unknown`` (``int``: binaries of unknown size), ``stacks`` (``int``),
            ``stack_names`` (``str``).  Page trees: every changed spec is its own root.
        by_stack: ``stack``, ``cause`` (``str``), ``specs`` (``int``): binaries of each
            stack rebuilt by each cause.
        attributed: ``hash`` (``str``), ``cause`` (``category``): every (changed binary, cause) pair.
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
        g = self._graph
        if not g:
            return []
        if "down" not in g:  # built on the first call: parent position -> changed dependency positions
            down: dict[int, list[int]] = {}
            for parent, child in zip(g["parent"].tolist(), g["child"].tolist()):
                down.setdefault(parent, []).append(child)
            g["down"] = down
            g["pos"] = {h: i for i, h in enumerate(g["hashes"])}
        start = g["pos"].get(spec_hash)
        if start is None:
            return []
        seen, queue = {start: None}, deque([start])
        while queue:
            node = queue.popleft()
            if g["root_cause"].get(node) == cause:
                path = [node]
                while seen[path[-1]] is not None:
                    path.append(seen[path[-1]])
                return [g["hashes"][i] for i in path[::-1]]
            for dep in g["down"].get(node, ()):
                if dep not in seen:
                    seen[dep] = node
                    queue.append(dep)
        return []


def _hash_keys(values) -> np.ndarray | None:
    """A 64-bit key per hash of ``values`` (Arrow-backed text), read in place from the
    Arrow buffers (Spack's DAG hashes are 32 characters: four 64-bit words, mixed), or
    ``None`` when a value is missing or not 32 bytes long."""
    array = values.array.__arrow_array__() if hasattr(values, "array") else pa.chunked_array([pa.array(values)])
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    out = np.empty(len(values), np.uint64)
    at = 0
    for chunk in chunks:
        n = len(chunk)
        if not n:
            continue
        if chunk.null_count or not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return None
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset: chunk.offset + n + 1]
        if offsets[-1] - offsets[0] != 32 * n or np.any(np.diff(offsets) != 32):
            return None
        words = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]].view(np.uint64).reshape(n, 4)
        key = out[at: at + n]
        np.copyto(key, _mix(words[:, 0]))
        for i in (1, 2, 3):
            key ^= _mix(words[:, i] + np.uint64(i))
        at += n
    return out


def _positions(values, within) -> np.ndarray:
    """Position (``int32``) in ``within`` of each of ``values`` (hash texts, Arrow-backed),
    ``-1`` where absent.  32-character hashes are matched by a 64-bit key read in place
    (no hash table of strings: at 5M edges that kept ~170 MB); others through Arrow."""
    keys, known = _hash_keys(values), _hash_keys(within)
    if keys is not None and known is not None:
        order = np.argsort(known, kind="stable")
        sorted_keys = known[order]
        if not len(sorted_keys) or not np.any(sorted_keys[1:] == sorted_keys[:-1]):  # no two known hashes share a key
            at = np.searchsorted(sorted_keys, keys)
            at[at == len(sorted_keys)] = 0
            found = sorted_keys[at] == keys if len(sorted_keys) else np.zeros(len(keys), bool)
            return np.where(found, order[at] if len(order) else -1, -1).astype(np.int32)
    return pc.index_in(pa.array(values), value_set=pa.array(within)).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)


def _shared(old: pd.Categorical, new: pd.Categorical, fn=None) -> tuple[np.ndarray, np.ndarray, list]:
    """Codes of two categoricals in one vocabulary (``fn`` maps each value first);
    missing values share one code.  Returns ``(codes_old, codes_new, vocabulary)``."""
    values = [np.nan if v is None else v for v in [*old.categories, *new.categories, None]]
    mapped = [fn(v) if fn is not None and isinstance(v, str) else v for v in values]
    codes, vocab = pd.factorize(pd.Series(mapped, dtype=object), use_na_sentinel=False)
    k = len(old.categories)
    lookup_o, lookup_n, missing = codes[:k], codes[k:-1], codes[-1]
    co = np.where(old.codes >= 0, lookup_o[np.maximum(old.codes, 0)] if k else missing, missing)
    cn = np.where(new.codes >= 0, lookup_n[np.maximum(new.codes, 0)] if len(lookup_n) else missing, missing)
    return co.astype(np.int32), cn.astype(np.int32), list(vocab)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 of ``x`` (uint64): order-free signatures are sums of these."""
    x = (x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per position ``0..n-1``: the (wrapping) sum of ``values`` at ``index``."""
    out = np.zeros(n, np.uint64)
    if len(index):
        order = np.argsort(index, kind="stable")
        idx, vals = index[order], values[order]
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        with np.errstate(over="ignore"):
            out[idx[starts]] = np.add.reduceat(vals, starts)
    return out


def _group_key(columns: list[np.ndarray]) -> np.ndarray:
    """One 64-bit key per row, equal for equal rows of ``columns`` (int arrays of one
    length): the columns hashed together (two different rows share a key with odds of
    about rows squared over 2**64)."""
    key = np.zeros(len(columns[0]), np.uint64)
    for column in columns:
        key = _mix(key ^ column.astype(np.int64).view(np.uint64))
    return key


def _pair(cols_o: dict, cols_n: dict, free_o: np.ndarray, free_n: np.ndarray, order_o: list, order_n: list) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(old, new)`` of paired changed specs (see :data:`ROUNDS`); ``free_*``
    are the candidates, ``order_*`` the tie-break keys (most significant first)."""
    free_o, free_n = free_o.copy(), free_n.copy()
    out_o, out_n = [], []
    for fields in ROUNDS:
        io, inew = np.flatnonzero(free_o), np.flatnonzero(free_n)
        if not len(io) or not len(inew):
            break
        key = _group_key([np.r_[cols_o[f][io], cols_n[f][inew]] for f in fields])
        ko, kn = key[: len(io)], key[len(io):]
        ranks = []
        for idx, k, order in ((io, ko, order_o), (inew, kn, order_n)):
            sort = np.lexsort([o[idx] for o in reversed(order)] + [k])  # by key, then the tie-breaks
            ks = k[sort]
            starts = np.r_[0, np.flatnonzero(ks[1:] != ks[:-1]) + 1]
            n = np.arange(len(ks)) - np.repeat(starts, np.diff(np.r_[starts, len(ks)]))
            rank = np.empty(len(ks), np.int64)
            rank[sort] = n
            ranks.append(rank)
        # (key, rank) of each side as one 64-bit key: the k-th of a key pairs with the k-th
        both, at_o, at_n = np.intersect1d(_mix(ko ^ ranks[0].view(np.uint64)), _mix(kn ^ ranks[1].view(np.uint64)), assume_unique=True, return_indices=True)
        if len(both):
            po, pn = io[at_o], inew[at_n]
            free_o[po] = False
            free_n[pn] = False
            out_o.append(po)
            out_n.append(pn)
    if not out_o:
        return np.array([], np.int64), np.array([], np.int64)
    return np.concatenate(out_o), np.concatenate(out_n)


def _variant_diff(old: str, new: str) -> str:
    """The variants that differ, as ``old -> new`` text (``~cxx -> +cxx``)."""
    a, b = spec_variants(old), spec_variants(new)
    a.pop("patches", None)
    b.pop("patches", None)

    def show(values, keys):
        parts = []
        for k in keys:
            v = values.get(k)
            parts.append(f"{k}=(none)" if v is None else (("+" if v == "true" else "~") + k) if v in ("true", "false") else f"{k}={v}")
        return " ".join(parts)

    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"{show(a, keys)} -> {show(b, keys)}"


def _plain_variants(text: str) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(spec_variants(text).items()) if k != "patches")


def _patches(text: str) -> str:
    return spec_variants(text).get("patches", "")


def _edges(snap: Snapshot, names: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(parent, child, name)``: positions and the shared name codes ``names`` of
    ``snap``'s edges (a child outside the snapshot is ``-1``)."""
    e = snap.edges
    if not len(e):
        return np.array([], np.int32), np.array([], np.int32), np.array([], np.int32)
    return e["parent"].to_numpy(), e["child"].to_numpy(), names


def compare(old: Snapshot, new: Snapshot) -> Causes:
    """Pair, classify and attribute the changes from ``old`` to ``new`` (module docstring).

    Returns:
        A :class:`Causes`.  Time and memory grow with the records and edges of both
        sides (``benchmarks/causes.py`` measures 1M binaries a side).
    """
    has_edges = old.has_edges and new.has_edges
    on, nn = old.nodes, new.nodes
    in_old = _positions(nn["hash"], on["hash"])  # new node -> same hash in old, or -1
    same_n = in_old >= 0
    gone_o = np.ones(len(on), bool)
    gone_o[in_old[same_n]] = False

    # every field as integer codes shared by both sides
    cols_o, cols_n, vocab = {}, {}, {}
    for name in NODE_FIELDS:
        cols_o[name], cols_n[name], vocab[name] = _shared(on[name].array, nn[name].array)
    # variants as written (for the cause's text), then as compared: patches apart, one spelling
    cols_o["_raw_variants"], cols_n["_raw_variants"] = cols_o["variants"], cols_n["variants"]
    cols_o["variants"], cols_n["variants"], _ = _shared(on["variants"].array, nn["variants"].array, _plain_variants)
    cols_o["_patches"], cols_n["_patches"], _ = _shared(on["variants"].array, nn["variants"].array, _patches)
    missing_ph = next((i for i, v in enumerate(vocab["package_hash"]) if pd.isna(v)), -2)

    # edges, as positions with shared dependency-name codes
    name_o, name_n, names = _shared(old.edges["dep_name"].array if len(old.edges) else pd.Categorical([]),
                                    new.edges["dep_name"].array if len(new.edges) else pd.Categorical([]))
    eo, en = _edges(old, name_o), _edges(new, name_n)
    n_names = len(names) + 1
    # each node's dependency names (its place in the DAG), and names with versions (tie-break)
    vo, vn = cols_o["version"], cols_n["version"]
    cols_o["_depnames"] = _sum_by(eo[0], _mix(eo[2]), len(on)).view(np.int64)
    cols_n["_depnames"] = _sum_by(en[0], _mix(en[2]), len(nn)).view(np.int64)
    n_versions = len(vocab["version"]) + 1
    sig_o = _sum_by(eo[0], _mix(eo[2] * n_versions + np.where(eo[1] >= 0, vo[np.maximum(eo[1], 0)], n_versions - 1)), len(on)).view(np.int64)
    sig_n = _sum_by(en[0], _mix(en[2] * n_versions + np.where(en[1] >= 0, vn[np.maximum(en[1], 0)], n_versions - 1)), len(nn)).view(np.int64)
    vrank_lookup = np.empty(len(vocab["version"]), np.int64)  # version code -> rank in Spack's order
    vrank_lookup[sorted(range(len(vocab["version"])), key=lambda i: version_key(_text(vocab["version"], i)))] = np.arange(len(vocab["version"]))
    free_n = ~same_n
    io, inew = _pair(cols_o, cols_n, gone_o, free_n, [sig_o, vrank_lookup[vo], np.arange(len(on))], [sig_n, vrank_lookup[vn], np.arange(len(nn))])

    # own classes of each pair
    def differs(name):
        return cols_o[name][io] != cols_n[name][inew]

    own = {
        "version": differs("version"), "variants": differs("variants"), "patches": differs("_patches"), "compiler": differs("compiler"),
        "target": differs("target"), "os": differs("os") | differs("platform"),
        "recipe": differs("package_hash") & (cols_o["package_hash"][io] != missing_ph) & (cols_n["package_hash"][inew] != missing_ph),
    }
    n_pairs = len(inew)
    old_to_new = np.full(len(on), -1, np.int64)
    old_to_new[io] = inew
    pair_of_new = np.full(len(nn), -1, np.int64)  # new position -> pair number
    pair_of_new[inew] = np.arange(n_pairs)
    gained = np.zeros(n_pairs, bool)
    dropped = np.zeros(n_pairs, bool)
    has_dep = np.zeros(n_pairs, bool)
    up_parent = up_child = np.array([], np.int64)
    gained_edges = dropped_edges = (np.array([], np.int64), np.array([], np.int64))
    if has_edges and n_pairs:
        # direct dependencies of both sides of each pair, keyed by (new parent, name)
        mask_n = pair_of_new[en[0]] >= 0
        p_n, c_n, k_n = en[0][mask_n], en[1][mask_n], en[0][mask_n] * n_names + en[2][mask_n]
        mapped = old_to_new[eo[0]]
        mask_o = mapped >= 0
        p_o, c_o, k_o = mapped[mask_o], eo[1][mask_o], mapped[mask_o] * n_names + eo[2][mask_o]
        k_n, first_n = np.unique(k_n, return_index=True)
        p_n, c_n = p_n[first_n], c_n[first_n]
        k_o, first_o = np.unique(k_o, return_index=True)
        p_o, c_o = p_o[first_o], c_o[first_o]
        _, at_n, at_o = np.intersect1d(k_n, k_o, assume_unique=True, return_indices=True)
        only_n = np.ones(len(k_n), bool)
        only_n[at_n] = False
        only_o = np.ones(len(k_o), bool)
        only_o[at_o] = False
        gained[pair_of_new[p_n[only_n]]] = True
        dropped[pair_of_new[p_o[only_o]]] = True
        gained_edges = (p_n[only_n], k_n[only_n] % n_names)
        dropped_edges = (p_o[only_o], k_o[only_o] % n_names)
        child_n, child_o = c_n[at_n], c_o[at_o]
        # a changed dependency explains the change when it is itself a changed pair
        explained = (child_n >= 0) & (child_o >= 0) & (old_to_new[np.maximum(child_o, 0)] == child_n)
        up_parent, up_child = p_n[at_n][explained], child_n[explained]
        has_dep[pair_of_new[up_parent]] = True
        if own["compiler"].any():  # explained by the compiler's own changed node: not the spec's own change
            comp_name = {i: (str(v).split("@")[0] if isinstance(v, str) else "") for i, v in enumerate(vocab["compiler"])}
            name_code = {v: i for i, v in enumerate(names) if isinstance(v, str)}
            lookup = np.array([name_code.get(comp_name[i], -1) for i in range(len(vocab["compiler"]))], np.int64)
            comp_codes = lookup[cols_n["compiler"][inew]]
            explained_keys = k_n[at_n][explained]
            keys = inew * n_names + comp_codes
            own["compiler"] &= ~((comp_codes >= 0) & np.isin(keys, explained_keys))
    own["new dependency"], own["dropped dependency"] = gained, dropped
    mask = np.zeros(n_pairs, np.int64)
    for bit, cls in enumerate(CLASSES):
        mask |= own[cls].astype(np.int64) << bit
    is_root = (mask != 0) | ~has_dep if has_edges else np.ones(n_pairs, bool)

    # cause names: one per distinct (package, own change, values) of the roots
    roots = np.flatnonzero(is_root)
    gained_names = _names_by_parent(gained_edges, names)
    dropped_names = _names_by_parent(dropped_edges, names)
    label_cols = {"p": cols_n["package"][inew[roots]], "m": mask[roots]}
    for field_name in ("version", "_raw_variants", "compiler", "target", "os", "platform"):
        label_cols["o" + field_name] = cols_o[field_name][io[roots]]
        label_cols["n" + field_name] = cols_n[field_name][inew[roots]]
    label_cols["g"] = np.array([gained_names.get(p, "") for p in inew[roots]], object) if gained.any() else ""
    label_cols["d"] = np.array([dropped_names.get(p, "") for p in inew[roots]], object) if dropped.any() else ""
    combos = pd.DataFrame(label_cols)
    key = combos.groupby(list(combos.columns), sort=False).ngroup().to_numpy() if len(combos) else np.array([], np.int64)
    texts = {}
    for k, row in zip(*np.unique(key, return_index=True)):
        texts[k] = _cause_name(combos.iloc[row], vocab, has_edges)
    root_cause_names = np.array([texts[k] for k in key], object) if len(key) else np.array([], object)
    cause_names, root_cause = np.unique(root_cause_names, return_inverse=True) if len(key) else (np.array([], object), np.array([], np.int64))

    # attribution: each root's cause flows up through explained edges (parent <- changed dependency)
    rel_node, rel_cause = _propagate(inew[roots], root_cause.astype(np.int64), up_parent, up_child, len(nn), len(cause_names))
    binary = nn["binary"].to_numpy()
    keep = binary[rel_node]
    att_node, att_cause = rel_node[keep], rel_cause[keep]

    changed, attributed = _changed_frame(nn, on, io, inew, binary, mask, has_dep, is_root, has_edges, att_node, att_cause, cause_names)
    ranked, by_stack = _rank(nn, att_node, att_cause, cause_names, roots_info=(inew[roots], root_cause, mask[roots], cols_n["package"], vocab["package"]), has_edges=has_edges)
    note = "" if has_edges else "page trees record no dependency edges: changes are classified by their own fields only, not traced to root causes"
    n_changed = int(binary[inew].sum())
    counts = {
        "unchanged": int((same_n & binary).sum()),
        "changed": n_changed,
        "added": int((~same_n & binary).sum()) - n_changed,
        "removed": int((gone_o & on["binary"].to_numpy()).sum()) - int(on["binary"].to_numpy()[io].sum()),
    }
    graph = {"parent": up_parent, "child": up_child, "hashes": nn["hash"].to_numpy(),
             "root_cause": dict(zip(inew[roots].tolist(), cause_names[root_cause].tolist())) if len(roots) else {}}
    return Causes(old, new, counts, changed, ranked, by_stack, attributed, has_edges, note, graph)


def _propagate(node: np.ndarray, cause: np.ndarray, parent: np.ndarray, child: np.ndarray, n_nodes: int, n_causes: int):
    """Every (node, cause) reached from the roots' ``(node, cause)`` going up the edges
    ``child -> parent`` (explained changes), each pair once: ``(nodes, causes)``."""
    if not len(parent) or not len(node):
        return node, cause
    order = np.argsort(child, kind="stable")
    parents = parent[order]
    starts = np.zeros(n_nodes + 1, np.int64)
    np.cumsum(np.bincount(child, minlength=n_nodes), out=starts[1:])
    seen = np.unique(node.astype(np.int64) * n_causes + cause)
    nodes, causes = [node], [cause]
    while len(node):
        counts = starts[node + 1] - starts[node]
        total = int(counts.sum())
        if not total:
            break
        first = np.repeat(starts[node] - np.cumsum(counts) + counts, counts) + np.arange(total)
        keys = np.unique(parents[first].astype(np.int64) * n_causes + np.repeat(cause, counts))
        keys = keys[~np.isin(keys, seen, assume_unique=True)]
        seen = np.union1d(seen, keys)
        node, cause = keys // n_causes, keys % n_causes
        nodes.append(node)
        causes.append(cause)
    return np.concatenate(nodes), np.concatenate(causes)


def _names_by_parent(edges: tuple[np.ndarray, np.ndarray], names: list) -> dict[int, str]:
    """``{parent position: "a, b"}``: the dependency names of ``edges`` (few: gained or dropped)."""
    out: dict[int, list] = {}
    for parent, code in zip(edges[0].tolist(), edges[1].tolist()):
        out.setdefault(parent, []).append(str(names[code]) if code < len(names) else "?")
    return {p: ", ".join(sorted(set(v))) for p, v in out.items()}


def _text(vocab: list, code) -> str:
    value = vocab[int(code)]
    return "" if not isinstance(value, str) else value


def _cause_name(row, vocab: dict, has_edges: bool) -> str:
    """The name of one root's cause from its package, own-change mask and values."""
    pkg = _text(vocab["package"], row["p"])
    m = int(row["m"])

    def on(cls):
        return bool(m >> CLASSES.index(cls) & 1)

    def ab(field_name):
        return _text(vocab[field_name if field_name != "_raw_variants" else "variants"], row["o" + field_name]), \
            _text(vocab[field_name if field_name != "_raw_variants" else "variants"], row["n" + field_name])

    parts = []
    if on("version"):
        parts.append("{} {} -> {} (version)".format(pkg, *ab("version")))
    if on("variants"):
        parts.append(f"{pkg} {_variant_diff(*ab('_raw_variants'))} (variants)")
    if on("patches"):
        parts.append(f"patches of {pkg} changed")
    if on("compiler"):
        parts.append("{} %{} -> %{} (compiler)".format(pkg, *ab("compiler")))
    if on("target"):
        parts.append("{} target={} -> target={} (target)".format(pkg, *ab("target")))
    if on("os"):
        (po, no), (pp, np_) = ab("os"), ab("platform")
        parts.append(f"{pkg} {pp}-{po} -> {np_}-{no} (OS)")
    if on("recipe"):
        parts.append(f"recipe of {pkg} changed")
    if on("new dependency"):
        parts.append(f"{pkg} gained dependency {row['g']}")
    if on("dropped dependency"):
        parts.append(f"{pkg} dropped dependency {row['d']}")
    if not parts:
        parts.append(f"{pkg}: new hash, no field or dependency changed" if has_edges else f"{pkg}: {PAGES_UNKNOWN}")
    return "; ".join(parts)


def _class_texts(mask: np.ndarray, has_dep: np.ndarray, has_edges: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: its classes (with ``dependency``) and its own classes, as text."""
    combined = mask | (has_dep.astype(np.int64) << len(CLASSES))
    uniq, inverse = np.unique(combined, return_inverse=True)
    full, own = [], []
    for value in uniq.tolist():
        cls = [c for bit, c in enumerate(CLASSES) if value >> bit & 1]
        dep = bool(value >> len(CLASSES) & 1)
        mine = cls or ([] if dep else [HASH_ONLY if has_edges else PAGES_UNKNOWN])
        own.append(", ".join(mine))
        full.append(", ".join(mine + [DEPENDENCY] if dep else mine))
    return np.array(full, object)[inverse], np.array(own, object)[inverse]


def _changed_frame(nn, on, io, inew, binary, mask, has_dep, is_root, has_edges, att_node, att_cause, cause_names):
    """The ``changed`` and ``attributed`` frames of :class:`Causes`."""
    b = binary[inew]
    pos_n, pos_o = inew[b], io[b]
    classes, _ = _class_texts(mask[b], has_dep[b], has_edges)
    # each binary's causes as one text: computed once per distinct set of causes
    order = np.lexsort([att_cause, att_node])
    node_s, cause_s = att_node[order], att_cause[order]
    sig = _sum_by(node_s, _mix(cause_s), len(nn))
    uniq, first = np.unique(sig[pos_n], return_index=True)
    text_of = {}
    starts = np.searchsorted(node_s, pos_n[first])
    ends = np.searchsorted(node_s, pos_n[first], side="right")
    for s_val, a, z in zip(uniq.tolist(), starts.tolist(), ends.tolist()):
        text_of[s_val] = "; ".join(sorted(cause_names[cause_s[a:z]].tolist()))
    causes_text = pd.Series(sig[pos_n]).map(text_of).fillna("").to_numpy()
    def take(frame, column, pos):  # no text materialized: Arrow strings and categoricals are taken as they are
        return pd.Series(frame[column].array.take(pos))

    changed = pd.DataFrame({
        "hash": take(nn, "hash", pos_n), "old_hash": take(on, "hash", pos_o), "package": take(nn, "package", pos_n),
        "version": take(nn, "version", pos_n), "old_version": take(on, "version", pos_o),
        **{c: take(nn, c, pos_n) for c in ("compiler", "os", "target", "variants", "stacks")},
        "size": take(nn, "size", pos_n), "classes": pd.Categorical(classes), "root": is_root[b], "causes": pd.Categorical(causes_text),
    })
    attributed = pd.DataFrame({"hash": take(nn, "hash", att_node), "cause": pd.Categorical.from_codes(att_cause, categories=pd.Index(cause_names, dtype=object))
                               if len(cause_names) else pd.Categorical([])})
    return changed, attributed


def _rank(nn, att_node, att_cause, cause_names, roots_info, has_edges) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per cause: specs, bytes, stacks (most specs first); and per stack and cause."""
    root_pos, root_cause, root_mask, package_codes, package_vocab = roots_info
    n = len(cause_names)
    size = nn["size"].to_numpy(dtype="float64", na_value=np.nan)[att_node]
    known = ~np.isnan(size)
    specs = np.bincount(att_cause, minlength=n)
    bytes_ = np.bincount(att_cause[known], weights=size[known], minlength=n)
    unknown = np.bincount(att_cause[~known], minlength=n)
    # stacks: per distinct (cause, stacks text) pair, split once
    stacks_codes = nn["stacks"].array.codes[att_node]
    stack_cats = nn["stacks"].array.categories
    pairs, counts = np.unique(att_cause.astype(np.int64) * (len(stack_cats) + 1) + (stacks_codes + 1), return_counts=True)
    per: dict[tuple[str, int], int] = {}
    names_of: dict[int, set] = {}
    for key, count in zip(pairs.tolist(), counts.tolist()):
        cause, code = divmod(key, len(stack_cats) + 1)
        text = str(stack_cats[code - 1]) if code else ""
        for stack in filter(None, (s.strip() for s in text.split(","))):
            per[(stack, cause)] = per.get((stack, cause), 0) + count
            names_of.setdefault(cause, set()).add(stack)
    by_stack = pd.DataFrame([(s, str(cause_names[c]), k) for (s, c), k in per.items()], columns=["stack", "cause", "specs"])
    by_stack = by_stack.sort_values(["stack", "specs"], ascending=[True, False], kind="stable").reset_index(drop=True)
    n_roots = np.bincount(root_cause, minlength=n) if len(root_cause) else np.zeros(n, int)
    first_root = {}
    for pos, cause, m in zip(root_pos.tolist(), root_cause.tolist(), root_mask.tolist()):
        first_root.setdefault(cause, (pos, m))
    own_text = {}
    for cause, (pos, m) in first_root.items():
        cls = [c for bit, c in enumerate(CLASSES) if m >> bit & 1]
        own_text[cause] = ", ".join(cls or [HASH_ONLY if has_edges else PAGES_UNKNOWN])
    ranked = pd.DataFrame({
        "cause": [str(c) for c in cause_names],
        "package": [str(package_vocab[package_codes[first_root[c][0]]]) for c in range(n)],
        "classes": [own_text[c] for c in range(n)],
        "roots": n_roots.astype(int), "specs": specs.astype(int), "bytes": bytes_.astype(np.int64), "unknown": unknown.astype(int),
        "stacks": [len(names_of.get(c, ())) for c in range(n)], "stack_names": [", ".join(sorted(names_of.get(c, ()))) for c in range(n)],
    })
    ranked = ranked.sort_values(["specs", "bytes", "cause"], ascending=[False, False, True], kind="stable").reset_index(drop=True)
    return ranked, by_stack
