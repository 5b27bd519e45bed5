"""Snapshot pairs of a build cache with known rebuild causes.

    python -m benchmarks.scenarios OUT_DIR [--scenario version] [--packages 13 --configs 2]

A *universe* is a DAG of packages (each with a version, variants, a recipe hash and
dependencies on packages of lower layers) built once per *configuration* (compiler,
OS, platform, target): one node per package and configuration, whose dependencies
are the same configuration's nodes of its dependency packages and whose compiler is an
external node reached through the ``c``/``cxx`` virtuals, as Spack 1.x records it.
A node's hash is computed from its own fields and its dependencies' hashes, so a change
rebuilds exactly the nodes above it, as Spack's DAG hash does.

A scenario applies known changes to a copy of the universe (:data:`SCENARIOS`): a
low-level version bump, a recipe hash change, a variant change in the middle of the DAG,
one package's compiler, two of these at once, one plus an unrelated new package.  The
truth it returns (:class:`Truth`) is computed here from the universe (the nodes each
change touched and every node above them), not by the dashboard.

Written as a v3 mirror set (one mirror per stack of each of the tags ``old`` and
``new``, with a ``cache_spack_io_index.json``), or as one v3 mirror per side (:func:`write_pair`)
for the large benchmark; index database v8, spec format v5, as Spack 1.x writes them
(see :mod:`benchmarks.mirrors`).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.mirrors import _compiler_record, parameters, spack_hash, write_mirror

#: The small universe: ``name: (version, variants, dependencies)``, lower layers first.
PACKAGES = {
    "zlib-ng": ("2.2.1", "+shared", []),
    "bzip2": ("1.0.8", "+shared", []),
    "xz": ("5.4.6", "~pic", []),
    "openssl": ("3.1.3", "+shared", ["zlib-ng"]),
    "cmake": ("3.27.9", "~doc", ["openssl", "zlib-ng"]),
    "libxml2": ("2.10.3", "~python", ["zlib-ng", "xz"]),
    "curl": ("8.4.0", "+nghttp2", ["openssl", "zlib-ng", "cmake"]),
    "hdf5": ("1.14.3", "~cxx +shared", ["zlib-ng", "cmake"]),
    "netcdf-c": ("4.9.2", "~mpi", ["hdf5", "curl"]),
    "boost": ("1.83.0", "+iostreams", ["bzip2", "zlib-ng", "xz"]),
    "app-a": ("1.0", "~gui", ["netcdf-c", "boost"]),
    "app-b": ("2.1", "~gui", ["libxml2", "curl"]),
    "app-c": ("0.3", "~gui", ["bzip2"]),
}
#: Stacks of the small universe: their root packages (a stack's mirror holds them and their dependencies).
STACKS = {"data": ["app-a"], "web": ["app-b", "app-c"]}
CONFIGS = [("gcc@12.3.0", "ubuntu22.04", "linux", "x86_64_v3"), ("gcc@12.3.0", "ubuntu22.04", "linux", "neoverse_v1")]


@dataclass
class Universe:
    """Packages ``{name: {"version", "variants", "deps", "package_hash", "compiler"}}``
    (``compiler`` ``None``: the configuration's), ``configs`` and ``stacks``."""

    packages: dict
    configs: list
    stacks: dict = field(default_factory=dict)

    def copy(self) -> "Universe":
        return Universe(copy.deepcopy(self.packages), list(self.configs), dict(self.stacks))


def universe(packages: dict | None = None, configs: list | None = None, stacks: dict | None = None) -> Universe:
    """A universe of ``packages`` (default :data:`PACKAGES`) built for ``configs``."""
    packages = packages or PACKAGES
    return Universe({name: {"version": v, "variants": var, "deps": list(deps), "package_hash": spack_hash(f"recipe {name}"),
                            "compiler": None} for name, (v, var, deps) in packages.items()},
                    list(configs or CONFIGS), dict(stacks if stacks is not None else STACKS))


def nodes(u: Universe) -> dict[tuple[str, int], dict]:
    """``{(package, config index): node}``: each node's fields, ``hash``, ``deps``
    (``[(name, hash)]``) and ``compiler_hash``, hashed bottom up."""
    out: dict[tuple[str, int], dict] = {}
    for c, (compiler, os_, platform, target) in enumerate(u.configs):
        for name, pkg in u.packages.items():  # lower layers first
            comp = pkg["compiler"] or compiler
            compiler_hash, _ = _compiler_record(comp, os_, platform, target)
            deps = [(d, out[(d, c)]["hash"]) for d in pkg["deps"]]
            fields = [name, pkg["version"], pkg["variants"], comp, os_, platform, target, pkg["package_hash"], compiler_hash, sorted(h for _, h in deps)]
            out[(name, c)] = {"package": name, "version": pkg["version"], "variants": pkg["variants"], "compiler": comp, "os": os_,
                              "platform": platform, "target": target, "package_hash": pkg["package_hash"], "deps": deps,
                              "compiler_hash": compiler_hash, "hash": spack_hash(json.dumps(fields))}
    return out


def document(selected: list[dict]) -> dict:
    """The ``index.json`` document (database v8, spec format v5) of the binaries
    ``selected`` (nodes of :func:`nodes`) and their compilers."""
    installs: dict = {}
    for node in selected:
        _, record = _compiler_record(node["compiler"], node["os"], node["platform"], node["target"])
        installs[node["compiler_hash"]] = record
        spec = {
            "name": node["package"], "version": node["version"],
            "arch": {"platform": node["platform"], "platform_os": node["os"], "target": node["target"]},
            "namespace": "builtin", "parameters": parameters(node["variants"]), "package_hash": node["package_hash"],
            "dependencies": [{"name": record["spec"]["name"], "hash": node["compiler_hash"], "parameters": {"deptypes": ["build"], "virtuals": ["c", "cxx"]}}]
            + [{"name": name, "hash": h, "parameters": {"deptypes": ["build", "link"], "virtuals": []}} for name, h in node["deps"]],
            "annotations": {"original_specfile_version": 5}, "hash": node["hash"],
        }
        installs[node["hash"]] = {"spec": spec, "ref_count": 0, "in_buildcache": True}
    return {"database": {"version": "8", "installs": installs}}


def _closure(u: Universe, roots: list[str]) -> set[str]:
    """``roots`` and every package below them."""
    out, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo.extend(u.packages[name]["deps"])
    return out


def write_set(out: Path, old: Universe, new: Universe) -> Path:
    """Write the mirror set of both universes (tags ``old`` and ``new``, a mirror per
    stack); returns its ``cache_spack_io_index.json``."""
    index: dict = {}
    for tag, u in (("old", old), ("new", new)):
        built = nodes(u)
        for stack, roots in u.stacks.items():
            keep = _closure(u, roots)
            selected = [n for (name, _), n in built.items() if name in keep]
            rows = [dict(n, size=None) for n in selected]
            write_mirror(out / tag / stack, rows, document=document(selected))
            index.setdefault(tag, []).append({"label": stack, "url": f"{tag}/{stack}"})
    path = out / "cache_spack_io_index.json"
    path.write_text(json.dumps(index, indent=1))
    return path


def write_pair(out: Path, old: Universe, new: Universe, spec_manifests: bool = False) -> tuple[Path, Path]:
    """Write each universe whole as one v3 mirror, ``out/old`` and ``out/new``."""
    for tag, u in (("old", old), ("new", new)):
        selected = list(nodes(u).values())
        write_mirror(out / tag, [dict(n, size=None) for n in selected], spec_manifests=spec_manifests, document=document(selected))
    return out / "old", out / "new"


@dataclass
class Truth:
    """What a scenario changed: ``causes`` ``{(package, class): set of new-side hashes it
    rebuilt}``, ``unchanged``/``added`` new-side hashes, ``values`` ``{(package, class):
    (old, new)}``, ``sizes`` ``{hash: bytes}`` (as the spec manifests give them)."""

    causes: dict
    unchanged: set
    added: set
    values: dict


def truth(old: Universe, new: Universe, changes: dict) -> Truth:
    """The truth of ``changes`` ``{(package, class): (old value, new value)}`` applied to
    ``old`` to make ``new`` (every node of a changed package, and every node above one)."""
    before, after = nodes(old), nodes(new)
    old_hashes = {n["hash"] for n in before.values()}
    above: dict = {}
    for (pkg, cls) in changes:
        hit: set = set()
        for name in new.packages:  # lower layers first: a node is hit if it or a dependency is
            for c in range(len(new.configs)):
                if name == pkg or any((d, c) in hit for d in new.packages[name]["deps"]):
                    hit.add((name, c))
        above[(pkg, cls)] = {after[k]["hash"] for k in hit if k in before}
    added = {n["hash"] for k, n in after.items() if k not in before}
    return Truth(above, {n["hash"] for n in after.values() if n["hash"] in old_hashes}, added, dict(changes))


def _version(u, pkg="zlib-ng", to="2.2.3"):
    was = u.packages[pkg]["version"]
    u.packages[pkg]["version"] = to
    return {(pkg, "version"): (was, to)}


def _recipe(u, pkg="cmake"):
    was = u.packages[pkg]["package_hash"]
    u.packages[pkg]["package_hash"] = spack_hash(f"recipe {pkg} changed")
    return {(pkg, "recipe"): (was, u.packages[pkg]["package_hash"])}


def _variant(u, pkg="hdf5"):
    was = u.packages[pkg]["variants"]
    u.packages[pkg]["variants"] = was.replace("~cxx", "+cxx")
    return {(pkg, "variants"): (was, u.packages[pkg]["variants"])}


def _compiler(u, pkg="curl", to="gcc@13.2.0"):
    u.packages[pkg]["compiler"] = to
    return {(pkg, "compiler"): (u.configs[0][0], to)}


def _new_package(u):
    u.packages["app-d"] = {"version": "0.1", "variants": "~gui", "deps": ["xz"], "package_hash": spack_hash("recipe app-d"), "compiler": None}
    u.stacks["web"] = [*u.stacks["web"], "app-d"]
    return {}


#: Scenarios: name -> the changes made to the new side.
SCENARIOS = {
    "version": [_version],
    "recipe": [_recipe],
    "variant": [_variant],
    "compiler": [_compiler],
    "two causes": [_version, _recipe],
    "cause and new package": [_version, _new_package],
}


def scenario(name: str, base: Universe | None = None) -> tuple[Universe, Universe, Truth]:
    """``(old, new, truth)`` of the scenario ``name`` (:data:`SCENARIOS`)."""
    old = base or universe()
    new = old.copy()
    changes: dict = {}
    for change in SCENARIOS[name]:
        changes.update(change(new))
    return old, new, truth(old, new, changes)


def large(packages: int, configs: int, seed: int = 0) -> Universe:
    """A universe of ``packages`` x ``configs`` nodes: packages in layers of 50, each
    depending on up to 4 packages of the layers below (the first one always
    ``zlib-ng``-like package ``lib-00000``)."""
    import random

    rnd = random.Random(seed)
    names = [f"lib-{i:05d}" for i in range(packages)]
    pkgs = {}
    for i, name in enumerate(names):
        below = names[: (i // 50) * 50]
        deps = sorted(set(([names[0]] if below else []) + rnd.sample(below, min(3, len(below)))))
        pkgs[name] = (f"1.{i % 7}.{i % 3}", "+shared" if i % 2 else "~shared", deps)
    cfgs = [(f"gcc@{11 + c % 3}.{c % 5}.0", "ubuntu22.04", "linux", f"target{c:03d}") for c in range(configs)]
    return universe(pkgs, cfgs, {"root": names[-50:]})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--scenario", choices=SCENARIOS, default="version")
    args = parser.parse_args(argv)
    old, new, t = scenario(args.scenario)
    print(write_set(Path(args.out), old, new))
    for key, hashes in t.causes.items():
        print(f"{key}: {len(hashes)} rebuilt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
