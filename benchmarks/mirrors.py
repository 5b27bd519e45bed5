"""Write Spack mirrors (build caches) from cache.spack.io pages, in the layouts Spack
writes, so the mirror source can be checked against the pages row for row and
timed at any size.

    python -m benchmarks.mirrors OUT_DIR [--pages assets/pages] [--layout v3|v2] [--db 8|7]
    python -m benchmarks.mirrors OUT_DIR --synthetic 1000000      # one big v3 index

A mirror set is written as binaries.spack.io lays it out: ``OUT/<tag>/<stack>/``
is one mirror per stack of each tag (a spec is in the mirror of every stack
its page lists, ``root`` included) and ``OUT/cache_spack_io_index.json`` maps
``{tag: [{"label": stack, "url": "<tag>/<stack>"}]}``.  Each mirror holds

* v2: ``build_cache/index.json`` and ``index.json.hash`` (its sha256);
* v3: ``v3/layout.json``, ``v3/manifests/index/index.manifest.json`` pointing
  to the index blob ``blobs/sha256/<2>/<sha256>``, and one
  ``v3/manifests/spec/<name>/<name>-<version>-<hash>.spec.manifest.json`` per
  binary whose tarball entry's ``contentLength`` is the page's size, or a
  made-up size (deterministic in the hash) where the page says ``"-"``; the
  tarball blobs themselves are not written (nothing reads them).

Database records are spec format v5 (Spack 1.x): the compiler is an external
build dependency (``in_buildcache: false``) reached through ``virtuals``
``c``/``cxx``; targets alternate between the dict and the plain-string form;
variants become ``parameters`` (``+x`` true, ``~x`` false, ``k:=a,b`` and
``k=a,b`` a list, ``patches`` always a list of sha256 digests (the pages show 7
characters: the rest is made up, deterministically), ``k=v`` a string).

Only what Spack writes is written: index database v8 in layout v3 (Spack 1.x), v7 and
v8 in layout v2 (Spack 0.x); the index is never compressed; manifests are unsigned
(a signed cache comes from Spack itself: ``assets/mirrors/spack-1.2``).
``scripts/spack_oracle/check_generator.sh`` has Spack list each layout written here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REAL_PAGES = Path(__file__).resolve().parent.parent / "assets" / "pages"


def spack_hash(text: str) -> str:
    """A 32-character lowercase base-32 hash of ``text``, shaped like Spack's."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:32].lower()


def made_up_size(spec_hash: str) -> int:
    """A deterministic binary size (bytes) for a spec whose page gives none."""
    return 50_000 + int(hashlib.sha256(spec_hash.encode()).hexdigest()[:8], 16) % 50_000_000


def parameters(variants: str) -> dict:
    """A page's variant string as a spec's ``parameters`` (see the module docstring)."""
    out: dict = {}
    for token in variants.split():
        if token[0] in "+~":
            out[token[1:]] = token[0] == "+"
        elif "=" in token:
            name, value = token.split("=", 1)
            name = name.rstrip(":")
            if name == "patches":  # Spack stores full sha256 digests; pages show 7 characters
                out[name] = [v + hashlib.sha256(v.encode()).hexdigest()[: 64 - len(v)] for v in value.split(",")]
            elif ":=" in token or "," in value:
                out[name] = value.split(",")
            else:
                out[name] = value
    for flag in ("cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs"):
        out.setdefault(flag, [])
    return out


def _compiler_record(compiler: str, os_: str, platform: str, target: str) -> tuple[str, dict]:
    name, _, version = compiler.partition("@")
    spec_hash = spack_hash(f"compiler {compiler} {os_} {platform} {target}")
    spec = {
        "name": name, "version": version, "arch": {"platform": platform, "platform_os": os_, "target": target},
        "namespace": "builtin", "parameters": {"build_system": "generic", "languages": ["c", "c++", "fortran"]},
        "external": {"path": "/usr", "module": None}, "annotations": {"original_specfile_version": 5}, "hash": spec_hash,
    }
    return spec_hash, {"spec": spec, "ref_count": 1, "in_buildcache": False}


def database(rows, db_version: int = 8) -> dict:
    """The ``index.json`` document of the binaries ``rows`` (dicts with the
    columns of :attr:`dashboard.model.CacheData.specs`)."""
    installs: dict = {}
    for i, row in enumerate(rows):
        target = {"name": row["target"], "vendor": "generic", "features": [], "generation": 0, "parents": []} if i % 2 else row["target"]
        spec = {
            "name": row["package"], "version": row["version"],
            "arch": {"platform": row["platform"], "platform_os": row["os"], "target": target},
            "namespace": "builtin", "parameters": parameters(row["variants"]),
            "annotations": {"original_specfile_version": 5}, "hash": row["hash"],
        }
        if row["compiler"] != "none":
            dep_hash, record = _compiler_record(row["compiler"], row["os"], row["platform"], row["target"])
            installs[dep_hash] = record
            spec["dependencies"] = [{"name": record["spec"]["name"], "hash": dep_hash,
                                     "parameters": {"deptypes": ["build"], "virtuals": ["c", "cxx"]}}]
        installs[row["hash"]] = {"spec": spec, "ref_count": 0, "in_buildcache": True}
    return {"database": {"version": str(db_version), "installs": installs}}


def _blob(mirror: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = mirror / "blobs" / "sha256" / digest[:2] / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _manifest(entries: list[dict]) -> str:
    return json.dumps({"version": 3, "data": entries}, indent=2)


#: Index database versions Spack wrote, by layout.
SPACK_DB_VERSIONS = {"v3": (8,), "v2": (7, 8)}  # records in spec format v5; v6 held older specs


def write_mirror(mirror: Path, rows: list[dict], layout: str = "v3", db_version: int = 8, spec_manifests: bool = True,
                 document: dict | None = None) -> Path:
    """Write one mirror holding the binaries ``rows`` (see :func:`database`); with
    ``document``, that ``index.json`` document instead (its binaries are ``rows``).

    Raises:
        ValueError: a layout and database version Spack never wrote together.
    """
    if db_version not in SPACK_DB_VERSIONS.get(layout, ()):
        raise ValueError(f"Spack never wrote index database v{db_version} in layout {layout}")
    data = json.dumps(document or database(rows, db_version), separators=(",", ":")).encode()
    if layout == "v2":
        (mirror / "build_cache").mkdir(parents=True, exist_ok=True)
        (mirror / "build_cache" / "index.json").write_bytes(data)
        (mirror / "build_cache" / "index.json.hash").write_text(hashlib.sha256(data).hexdigest())
        return mirror
    (mirror / "v3" / "manifests" / "index").mkdir(parents=True, exist_ok=True)
    (mirror / "v3" / "layout.json").write_text(json.dumps({"signing": "gpg"}))  # as Spack 1.2 writes it, signed or not
    digest = _blob(mirror, data)
    entry = {"contentLength": len(data), "mediaType": f"application/vnd.spack.db.v{db_version}+json",
             "compression": "none", "checksumAlgorithm": "sha256", "checksum": digest}
    (mirror / "v3" / "manifests" / "index" / "index.manifest.json").write_text(_manifest([entry]))
    if spec_manifests:
        for row in rows:
            size = row["size"] if row["size"] is not None else made_up_size(row["hash"])
            folder = mirror / "v3" / "manifests" / "spec" / row["package"]
            folder.mkdir(parents=True, exist_ok=True)
            entries = [
                {"contentLength": size, "mediaType": "application/vnd.spack.install.v2.tar+gzip", "compression": "gzip",
                 "checksumAlgorithm": "sha256", "checksum": hashlib.sha256(row["hash"].encode()).hexdigest()},
                {"contentLength": 1000, "mediaType": "application/vnd.spack.spec.v5+json", "compression": "gzip",
                 "checksumAlgorithm": "sha256", "checksum": hashlib.sha256(row["hash"].encode() + b"spec").hexdigest()},
            ]
            (folder / f"{row['package']}-{row['version']}-{row['hash']}.spec.manifest.json").write_text(_manifest(entries))
    return mirror


def spec_rows(pages=REAL_PAGES) -> list[dict]:
    """The binaries of a page tree as dicts (columns of ``CacheData.specs``, ``size`` ``None`` if unknown)."""
    from dashboard.load import load

    specs = load(pages, cache=False).specs
    frame = specs[["tag", "package", "hash", "version", "compiler", "os", "platform", "target", "variants", "stacks", "size"]].astype(object)
    frame = frame.where(frame.notna(), None)
    return frame.to_dict("records")


def write_mirror_set(out, pages=REAL_PAGES, layout: str = "v3", db_version: int = 8, **options) -> Path:
    """Write a mirror set (module docstring) from the pages ``pages``; returns
    the path of its ``cache_spack_io_index.json``."""
    out = Path(out)
    by_mirror: dict[tuple[str, str], list[dict]] = {}
    for row in spec_rows(pages):
        for stack in str(row["stacks"]).split(", "):
            by_mirror.setdefault((str(row["tag"]), stack), []).append(row)
    index: dict[str, list] = {}
    for (tag, stack), rows in sorted(by_mirror.items()):
        write_mirror(out / tag / stack, rows, layout, db_version, **options)
        index.setdefault(tag, []).append({"label": stack, "url": f"{tag}/{stack}"})
    path = out / "cache_spack_io_index.json"
    path.write_text(json.dumps(index, indent=1))
    return path


def write_grid(out, tags: int = 100, stacks: int = 100, specs_per_mirror: int = 3, layout: str = "v3") -> Path:
    """A ``tags`` x ``stacks`` mirror set of small synthetic mirrors (for timing
    reloads of many mirrors); returns its ``cache_spack_io_index.json``."""
    out = Path(out)
    base = spec_rows()
    index: dict[str, list] = {}
    for t in range(tags):
        tag = f"develop-2025-{1 + t // 28:02d}-{1 + t % 28:02d}"
        for s in range(stacks):
            rows = [dict(base[(t * stacks + s + k) % len(base)], hash=spack_hash(f"{t} {s} {k}")) for k in range(specs_per_mirror)]
            write_mirror(out / tag / f"stack{s:03d}", rows, layout, spec_manifests=False)
            index.setdefault(tag, []).append({"label": f"stack{s:03d}", "url": f"{tag}/stack{s:03d}"})
    path = out / "cache_spack_io_index.json"
    path.write_text(json.dumps(index))
    return path


def synthetic_index(n: int, seed: int = 0) -> bytes:
    """The bytes of one v8 ``index.json`` with ``n`` binaries, sampled from the
    real pages (new hashes), as a big tag's root mirror would hold."""
    base = spec_rows()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(base), n)
    rows = (dict(base[i], hash=spack_hash(f"synthetic {seed} {k}")) for k, i in enumerate(pick))
    return json.dumps(database(rows), separators=(",", ":")).encode()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--pages", default=str(REAL_PAGES))
    parser.add_argument("--layout", choices=("v3", "v2"), default="v3")
    parser.add_argument("--db", type=int, choices=(8, 7), default=8, help="index database version (v3: 8 only, as Spack)")
    parser.add_argument("--synthetic", type=int, help="write one v3 mirror whose index has this many binaries")
    args = parser.parse_args(argv)
    if args.synthetic:
        data = synthetic_index(args.synthetic)
        mirror = Path(args.out)
        (mirror / "v3" / "manifests" / "index").mkdir(parents=True, exist_ok=True)
        digest = _blob(mirror, data)
        entry = {"contentLength": len(data), "mediaType": "application/vnd.spack.db.v8+json", "compression": "none",
                 "checksumAlgorithm": "sha256", "checksum": digest}
        (mirror / "v3" / "manifests" / "index" / "index.manifest.json").write_text(_manifest([entry]))
        print(f"{mirror}: {args.synthetic:,} binaries, index {len(data) / 1e6:.0f} MB")
        return 0
    path = write_mirror_set(args.out, args.pages, args.layout, args.db)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
