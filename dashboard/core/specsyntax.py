"""Spack's spec syntax (Spack 1.x) and what a spec query selects among cached specs.

Pure Python (no pandas, no Panel).  :func:`parse` reads a spec string as Spack's
``spack.spec_parser`` does (same tokens, same errors for the same mistakes) into a
:class:`Node` tree; :func:`satisfies` answers Spack's ``Spec.satisfies`` for one cached
spec of a :class:`Graph` (the spec's node and its dependency edges, as a mirror's index
records them).  ``tests/oracle/spack_queries.json`` holds Spack's own answers for 139
queries on a cache Spack wrote; the tests check that these functions agree with every one.

What a query means, as in Spack 1.x:

* ``name@versions +bool ~bool key=value key:=exact platform= os= target= /hash`` constrain
  one node; ``key=a,b`` asks that the values include a and b, ``key:=a,b`` that they are
  exactly a and b; ``target=`` takes a name, a list and ranges (``:zen2``, ``x86_64:``) in
  archspec's order; ``/abc`` a hash prefix.
* ``^dep ...`` constrains a dependency anywhere below the root (link and run edges all the
  way down, and the root's direct build dependencies); the tokens after it constrain that
  dependency, and a later ``%`` hangs below it.
* ``%dep ...`` constrains a *direct* dependency of the node before it (the root, or the
  last ``^dep``): ``%gcc@12 target=zen2`` asks for a gcc of target zen2, not a root built
  for zen2.  ``%c=gcc`` and ``%[virtuals=c] gcc`` ask that the edge provides ``c``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from dashboard.core.spack import VersionConstraintError, version_satisfies

IDENTIFIER = r"(?:[a-zA-Z_0-9][a-zA-Z_0-9\-]*)"
DOTTED_IDENTIFIER = rf"(?:{IDENTIFIER}(?:\.{IDENTIFIER})+)"
_VIRTUAL_ASSIGNMENT = rf"(?:(?P<virtuals>{IDENTIFIER}(?:,{IDENTIFIER})*)=(?P<substitute>{DOTTED_IDENTIFIER}|{IDENTIFIER}))"
_NAME = r"[a-zA-Z_0-9][a-zA-Z_0-9\-.]*"
_VALUE = r"(?:[a-zA-Z_0-9\-+\*.,:=%^\~\/\\]+)"
_QUOTED_VALUE = r"(?:'(?:[^']|(?<=\\)')*'|\"(?:[^\"]|(?<=\\)\")*\")"
_VERSION = r"=?(?:[a-zA-Z0-9_][a-zA-Z_0-9\-\.]*\b)"
_VERSION_RANGE = rf"(?:(?:{_VERSION})?:(?:{_VERSION}(?!\s*=))?)"
_VERSION_LIST = rf"(?:{_VERSION_RANGE}|{_VERSION})(?:\s*,\s*(?:{_VERSION_RANGE}|{_VERSION}))*"
_GIT = r"(?:(?:git\.(?:[a-zA-Z_0-9][a-zA-Z_0-9./\-]*))|(?:[A-Fa-f0-9]{40}))"

#: Spack's token kinds, in Spack's order (the first that matches wins).
_TOKENS = [
    ("START_EDGE_PROPERTIES", r"(?:(?:\^|\%\%|\%)\[)"),
    ("END_EDGE_PROPERTIES", rf"(?:\](?:\s*{_VIRTUAL_ASSIGNMENT.replace('?P<virtuals>', '?:').replace('?P<substitute>', '?:')})?)"),
    ("DEPENDENCY", rf"(?:(?:\^|\%\%|\%)(?:\s*{_VIRTUAL_ASSIGNMENT.replace('?P<virtuals>', '?:').replace('?P<substitute>', '?:')})?)"),
    ("VERSION_HASH_PAIR", rf"(?:@(?:{_GIT})=(?:{_VERSION}))"),
    ("GIT_VERSION", rf"@(?:{_GIT})"),
    ("VERSION", rf"(?:@\s*(?:{_VERSION_LIST}))"),
    ("PROPAGATED_BOOL_VARIANT", rf"(?:(?:\+\+|~~|--)\s*{_NAME})"),
    ("BOOL_VARIANT", rf"(?:[~+-]\s*{_NAME})"),
    ("PROPAGATED_KEY_VALUE_PAIR", rf"(?:{_NAME}:?==(?:{_VALUE}|{_QUOTED_VALUE}))"),
    ("KEY_VALUE_PAIR", rf"(?:{_NAME}:?=(?:{_VALUE}|{_QUOTED_VALUE}))"),
    ("FILENAME", r"(?:(?:\.|\/|[a-zA-Z0-9-_]*\/)(?:[a-zA-Z0-9-_\.\/]*)(?:\.json|\.yaml))"),
    ("FULLY_QUALIFIED_PACKAGE_NAME", rf"(?:{DOTTED_IDENTIFIER})"),
    ("UNQUALIFIED_PACKAGE_NAME", rf"(?:{IDENTIFIER}|\*)"),
    ("DAG_HASH", r"(?:/(?:[a-zA-Z_0-9]+))"),
    ("WS", r"(?:\s+)"),
    ("UNEXPECTED", r"(?:.[\s]*)"),
]
_TOKENIZER = re.compile("|".join(f"(?P<{kind}>{regex})" for kind, regex in _TOKENS))
_VIRTUALS = re.compile(_VIRTUAL_ASSIGNMENT)
#: Compiler flags Spack keeps apart from variants.
FLAG_NAMES = frozenset({"cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs"})
_ARCH_KEYS = ("platform", "os", "target")
#: Spack 0.x compiler names Spack's parser reads after ``%`` as the package that provides
#: the compiler (``spack.aliases.LEGACY_COMPILER_TO_BUILTIN``).
_LEGACY_COMPILERS = {"clang": "llvm", "oneapi": "intel-oneapi-compilers", "rocmcc": "llvm-amdgpu",
                     "intel": "intel-oneapi-compilers-classic", "arm": "acfl"}


class SpecSyntaxError(ValueError):
    """Text Spack would not read as a spec; the message says where, as Spack does."""


@dataclass
class Variant:
    """One variant constraint: ``values`` sorted; ``exact`` for ``+x``/``~x``/``k:=v``
    (the values must be these), else the values must be among the spec's."""

    values: tuple
    exact: bool


@dataclass
class Edge:
    """A dependency constraint: ``direct`` for ``%`` (an edge of the node it follows),
    else ``^`` (anywhere below the root); ``virtuals`` the edge must provide."""

    node: "Node"
    direct: bool
    virtuals: tuple[str, ...] = ()


@dataclass
class Node:
    """The constraints on one node of a spec (``None``/empty: anything)."""

    name: str | None = None
    versions: str | None = None
    variants: dict[str, Variant] = field(default_factory=dict)
    flags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    platform: str | None = None
    os: str | None = None
    target: str | None = None
    hash: str | None = None
    edges: list[Edge] = field(default_factory=list)


def _error(text: str, message: str, start: int, end: int) -> SpecSyntaxError:
    return SpecSyntaxError(f"{message}\n{text}\n{' ' * start}{'^' * max(1, end - start)}")


def _tokens(text: str) -> list[tuple[str, str, int, int]]:
    out = []
    for m in _TOKENIZER.finditer(text):
        kind = m.lastgroup
        if kind == "UNEXPECTED":
            raise _error(text, "unexpected characters in the spec string", m.start(), m.end())
        if kind != "WS":
            out.append((kind, m.group(), m.start(), m.end()))
    return out


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return json.loads(value) if value[0] == '"' else value[1:-1].replace("\\'", "'")
    return value


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self):
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, message: str, token=None):
        token = token or self.tokens[min(self.i, len(self.tokens)) - 1]
        raise _error(self.text, message, token[2], token[3])

    def node(self) -> Node:
        """Spack's ``SpecNodeParser.parse``: a name (optional), then its attributes."""
        spec = Node()
        if self.peek() is None or self.peek() == "DEPENDENCY":
            return spec
        if self.peek() == "UNQUALIFIED_PACKAGE_NAME":
            value = self.take()[1]
            spec.name = None if value == "*" else value
        elif self.peek() == "FULLY_QUALIFIED_PACKAGE_NAME":
            spec.name = self.take()[1].split(".")[-1]
        elif self.peek() == "FILENAME":
            self.fail("spec files are not read here: paste the file's text instead", self.take())
        has_version = False
        while True:
            kind = self.peek()
            if kind in ("VERSION_HASH_PAIR", "GIT_VERSION", "VERSION"):
                token = self.take()
                if has_version:
                    self.fail("Spec cannot have multiple versions", token)
                if kind != "VERSION":
                    self.fail("git versions are not matched against cached binaries", token)
                versions = re.sub(r"\s+", "", token[1][1:])
                try:
                    version_satisfies("0", versions)  # Spack refuses an empty range at parse time
                except VersionConstraintError as exc:
                    self.fail(str(exc), token)
                spec.versions = versions
                has_version = True
            elif kind in ("BOOL_VARIANT", "PROPAGATED_BOOL_VARIANT"):
                token = self.take()
                signs = 2 if kind == "PROPAGATED_BOOL_VARIANT" else 1
                self._add(spec, token[1][signs:].strip(), Variant((token[1][0] == "+",), True), token)
            elif kind in ("KEY_VALUE_PAIR", "PROPAGATED_KEY_VALUE_PAIR"):
                token = self.take()
                name, value = token[1].split("==" if kind == "PROPAGATED_KEY_VALUE_PAIR" else "=", 1)
                exact = name.endswith(":")
                self._add_pair(spec, name.rstrip(":"), _unquote(value), exact, token)
            elif kind == "DAG_HASH":
                if spec.hash:
                    break
                spec.hash = self.take()[1][1:]
            else:
                break
        return spec

    def _add(self, spec: Node, name: str, variant: Variant, token) -> None:
        if name in spec.variants:
            self.fail(f'Cannot specify variant "{name}" twice', token)
        spec.variants[name] = variant

    def _add_pair(self, spec: Node, name: str, value: str, exact: bool, token) -> None:
        if name in _ARCH_KEYS or name in ("arch", "architecture", "platform_os"):
            parts = {"arch": value, "architecture": value}.get(name)
            pairs = dict(zip(_ARCH_KEYS, parts.split("-", 2))) if parts else {"os" if name == "platform_os" else name: value}
            for key, val in pairs.items():
                if getattr(spec, key) is not None:
                    self.fail(f"Cannot specify '{key}' twice", token)
                setattr(spec, key, val)
        elif name in FLAG_NAMES:
            spec.flags[name] = spec.flags.get(name, ()) + tuple(value.split())
        elif name == "namespace":
            pass
        else:
            low = value.lower()
            if low in ("true", "false"):
                self._add(spec, name, Variant((low == "true",), True), token)
            else:
                self._add(spec, name, Variant(tuple(sorted(set(value.split(",")))), exact), token)

    def spec(self) -> Node:
        """Spack's ``SpecParser.next_spec``: a root node, then ``^``/``%`` edges."""
        root = self.node()
        current = root
        while self.peek() in ("START_EDGE_PROPERTIES", "DEPENDENCY"):
            kind, value, start, end = self.take()
            direct = value.startswith("%")
            virtuals: tuple[str, ...] = ()
            if kind == "START_EDGE_PROPERTIES":
                virtuals = self._edge_properties()
            else:
                m = _VIRTUALS.search(value)
                if m:
                    virtuals = tuple(m["virtuals"].split(","))
                    self.tokens.insert(self.i, ("UNQUALIFIED_PACKAGE_NAME", m["substitute"], start, end))
                elif direct and self.peek() is None:
                    raise _error(self.text, "a dependency sigil must be followed by a package name", start, end)
            dependency = self.node()
            if direct:
                dependency.name = _LEGACY_COMPILERS.get(dependency.name, dependency.name)
                current.edges.append(Edge(dependency, True, virtuals))
            else:
                root.edges.append(Edge(dependency, False, virtuals))
                current = dependency
        if self.peek() is not None:
            kind, value, start, end = self.take()
            raise _error(self.text, "expected a single spec, but got more:", start, end)
        return root

    def _edge_properties(self) -> tuple[str, ...]:
        """``[virtuals=c,cxx deptypes=build]`` (the tokens up to ``]``): the virtuals."""
        virtuals: tuple[str, ...] = ()
        while self.peek() == "KEY_VALUE_PAIR":
            key, value = self.take()[1].split("=", 1)
            if key == "virtuals":
                virtuals = tuple(value.split(","))
        if self.peek() != "END_EDGE_PROPERTIES":
            self.fail("expected ']' after the edge properties")
        m = _VIRTUALS.search(self.take()[1])
        if m:
            virtuals = tuple(m["virtuals"].split(","))
            self.tokens.insert(self.i, ("UNQUALIFIED_PACKAGE_NAME", m["substitute"], 0, 0))
        return virtuals


def parse(text: str) -> Node:
    """A spec string as Spack 1.x parses it, as a :class:`Node` tree.

    Raises:
        SpecSyntaxError: what Spack would refuse (unexpected characters, two versions,
            a variant or an architecture field twice, an empty version range, a
            dangling ``%``), with the place marked.
    """
    return _Parser(text).spec()


@dataclass
class SpecNode:
    """One concrete spec as the graph knows it.  ``variants`` is the spec's variant
    string (Spack's or the pages' form); ``compiler`` (``name@version``) is used for
    ``%`` where the source records no dependency edges (cache.spack.io pages)."""

    hash: str
    name: str
    version: str
    variants: str = ""
    platform: str = ""
    os: str = ""
    target: str = ""
    compiler: str = ""
    has_edges: bool = True


@dataclass
class Graph:
    """Concrete specs and their dependency edges: ``nodes`` by hash; ``edges`` by hash:
    ``[(dep_hash, deptypes, virtuals)]`` (both comma-separated sets)."""

    nodes: dict[str, SpecNode]
    edges: dict[str, list[tuple[str, frozenset, frozenset]]]
    _parsed: dict = field(default_factory=dict, repr=False)

    def variants(self, node: SpecNode) -> dict[str, tuple[str, tuple]]:
        """``{name: (kind, values)}``, kind ``"bool"``, ``"multi"``, ``"single"``, ``"flag"``."""
        got = self._parsed.get(node.hash)
        if got is None:
            got = self._parsed[node.hash] = variant_values(node.variants)
        return got


_SPEC_VARIANT = re.compile(
    r"(?P<sign>[+~]{1,2})(?P<bool>[\w.-]+)"
    r"|(?P<key>[\w.-]+)(?P<op>:?)==?(?P<value>'[^']*'|\"(?:[^\"\\]|\\.)*\"|[^\s+~]+)"
)


def variant_values(text: str) -> dict[str, tuple[str, tuple]]:
    """A spec's variant string (Spack's form, ``+a~b k:='x,y'``, or the pages' form,
    ``+a ~b k=x,y``) as ``{name: (kind, values)}``: kind ``"bool"`` (values ``(True,)``
    or ``(False,)``), ``"multi"`` (sorted), ``"single"`` or ``"flag"`` (compiler flags)."""
    out = {}
    for m in _SPEC_VARIANT.finditer(text or ""):
        if m["bool"]:
            out[m["bool"]] = ("bool", (m["sign"][0] == "+",))
            continue
        name, value = m["key"], _unquote(m["value"])
        if name in FLAG_NAMES:
            out[name] = ("flag", tuple(value.split()))
        elif value.lower() in ("true", "false"):
            out[name] = ("bool", (value.lower() == "true",))
        elif m["op"] == ":" or "," in value:
            out[name] = ("multi", tuple(sorted(set(value.split(",")))))
        else:
            out[name] = ("single", (value,))
    return out


def _target_ok(target: str, constraint: str) -> bool:
    """Spack's ``ArchSpec._target_satisfies`` for a concrete ``target``: a name matches
    itself; ``lo:hi`` every target that is ``lo`` or a descendant and ``hi`` or an
    ancestor (archspec's order); ``a,b`` either."""
    import archspec.cpu

    known = archspec.cpu.TARGETS.get(target)
    for part in constraint.split(","):
        low, sep, high = part.partition(":")
        if not sep:
            if target == low:
                return True
            continue
        if known is None:
            continue
        try:
            if (not low or known >= archspec.cpu.TARGETS[low]) and (not high or known <= archspec.cpu.TARGETS[high]):
                return True
        except (KeyError, TypeError):
            continue
    return False


def _node_ok(graph: Graph, node: SpecNode, want: Node) -> bool:
    """The node's own attributes satisfy ``want`` (Spack's ``_satisfies(deps=False)``)."""
    if want.hash and not node.hash.startswith(want.hash):
        return False
    if want.name and want.name != node.name:
        return False
    if want.versions and not version_satisfies(node.version, want.versions):
        return False
    if want.variants or want.flags:
        have = graph.variants(node)
        for name, variant in want.variants.items():
            kind, values = have.get(name, (None, ()))
            if kind is None:
                return False
            if variant.exact:
                if values != variant.values:
                    return False
            elif name == "patches":
                if not all(any(str(w).startswith(str(v)) for w in values) for v in variant.values):
                    return False
            elif not all(v in values for v in variant.values):
                return False
        for name, flags in want.flags.items():
            kind, values = have.get(name, (None, ()))
            if not set(flags) <= set(values):
                return False
    for key in ("platform", "os"):
        wanted = getattr(want, key)
        if wanted and wanted != "*" and getattr(node, key) != wanted:
            return False
    if want.target and want.target != "*" and not _target_ok(node.target, want.target):
        return False
    return True


def _below(graph: Graph, digest: str) -> list[tuple[str, frozenset]]:
    """Spack's candidates for ``^``: every edge reached from the spec through link and
    run edges, and the spec's own build edges: ``(dep_hash, virtuals)``."""
    out, seen, todo = [], set(), [digest]
    for dep, types, virtuals in graph.edges.get(digest, ()):
        if "build" in types:
            out.append((dep, virtuals))
    while todo:
        current = todo.pop()
        for dep, types, virtuals in graph.edges.get(current, ()):
            if types & {"link", "run"}:
                out.append((dep, virtuals))
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
    return out


def _compiler_node(node: SpecNode) -> SpecNode | None:
    """The compiler of a spec without dependency edges, as Spack 1.x reads a 0.x spec's
    compiler (``Spec.legacy_compiler``): a node with the compiler's name as written (a
    query's ``%oneapi`` is parsed as ``intel-oneapi-compilers``, which a compiler written
    ``oneapi`` is not) and its exact version, and nothing
    else: no architecture, no variants, so ``%gcc@11 target=zen2`` (the target is
    gcc's) selects none of them."""
    name, _, version = node.compiler.partition("@")
    if not name or name == "none":
        return None
    return SpecNode(hash="", name=name, version=version.lstrip("="))


def satisfies(graph: Graph, digest: str, want: Node) -> bool:
    """Whether the concrete spec ``digest`` of ``graph`` satisfies ``want`` (Spack's
    ``Spec.satisfies``): its own attributes, its direct edges for ``%``, and anything
    below it for ``^``."""
    node = graph.nodes.get(digest)
    if node is None or not _node_ok(graph, node, want):
        return False
    for edge in want.edges:
        if edge.direct:
            if not _direct_ok(graph, node, edge):
                return False
            continue
        candidates = _below(graph, digest)
        name = edge.node.name
        if name:
            candidates = [(d, v) for d, v in candidates
                          if (graph.nodes.get(d) is not None and graph.nodes[d].name == name) or name in v]
        if not candidates:
            return False
        for virtual in edge.virtuals:
            if not any(virtual in v or (graph.nodes.get(d) is not None and graph.nodes[d].name == virtual) for d, v in candidates):
                return False
        if not any(graph.nodes.get(d) is not None and _node_ok(graph, graph.nodes[d], edge.node) for d, _ in candidates):
            return False
        for sub in edge.node.edges:  # a % after a ^dep: a direct edge of that dependency
            if not any(graph.nodes.get(d) is not None and _node_ok(graph, graph.nodes[d], edge.node)
                       and _direct_ok(graph, graph.nodes[d], sub) for d, _ in candidates):
                return False
    return True


def _direct_ok(graph: Graph, node: SpecNode, edge: Edge) -> bool:
    if not node.has_edges:
        compiler = _compiler_node(node)
        return compiler is not None and _node_ok(graph, compiler, edge.node) and not edge.node.edges
    name = edge.node.name
    for dep, _types, virtuals in graph.edges.get(node.hash, ()):
        child = graph.nodes.get(dep)
        if child is None or (name and child.name != name):
            continue
        if edge.virtuals and not set(edge.virtuals) <= set(virtuals):
            continue
        if satisfies(graph, dep, edge.node):
            return True
    return False
