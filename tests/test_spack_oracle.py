"""The project speaks Spack's language as Spack does: answers recorded from Spack itself
(``scripts/spack_oracle/``, the Spack commit inside each fixture), never computed here."""

from __future__ import annotations

import json
from itertools import combinations

import pytest

from conftest import ROOT
from dashboard.core.spack import VersionConstraintError, sort_versions, version_key, version_satisfies

ORACLE = ROOT / "tests" / "oracle"
VERSIONS = json.loads((ORACLE / "spack_versions.json").read_text())


def test_the_version_fixture_is_large_and_from_spack():
    assert len(VERSIONS["rank"]) >= 300 and len(VERSIONS["constraints"]) >= 200
    assert VERSIONS["spack_commit"] and VERSIONS["spack_version"].startswith("1.")


def test_every_pair_of_versions_orders_as_in_spack():
    rank = VERSIONS["rank"]
    wrong = [(a, b) for a, b in combinations(sorted(rank), 2)
             if (rank[a] < rank[b]) != (version_key(a)[:2] < version_key(b)[:2])
             or (rank[a] == rank[b]) != (version_key(a)[:2] == version_key(b)[:2])]
    assert not wrong, f"{len(wrong)} of {len(rank) * (len(rank) - 1) // 2} pairs differ, e.g. {wrong[:5]}"
    ordered = sort_versions(rank)
    assert [rank[v] for v in ordered] == sorted(rank.values())


def test_every_version_constraint_selects_what_spack_selects():
    versions = sorted(VERSIONS["rank"])
    checks, wrong = 0, []
    for constraint, answer in VERSIONS["constraints"].items():
        if "error" in answer:
            with pytest.raises(VersionConstraintError):
                version_satisfies("1.0", constraint)
            continue
        want = set(answer["satisfies"])
        for v in versions:
            checks += 1
            if version_satisfies(v, constraint) != (v in want):
                wrong.append((v, constraint, v in want))
    assert checks >= 80_000
    assert not wrong, f"{len(wrong)} of {checks} checks differ, e.g. {wrong[:5]}"


# --- a cache Spack wrote, and Spack's own listing of it --------------------------------------

SPACK_MIRRORS = ROOT / "assets" / "mirrors" / "spack-1.2"


@pytest.fixture(scope="module")
def spack_cache(tmp_path_factory):
    from dashboard.load import load

    return load(SPACK_MIRRORS / "spack-1.2-v3-unsigned", cache_dir=tmp_path_factory.mktemp("store"))


def spack_listing() -> dict[str, dict]:
    """``spack buildcache list --allarch -L -v`` as Spack printed it: hash -> the spec text
    after the hash, its architecture and compilers (the section header)."""
    out, section = {}, None
    for line in (SPACK_MIRRORS / "spack-buildcache-list-allarch-Lv.txt").read_text().splitlines():
        if line.startswith("-- "):
            arch, _, compilers = line.strip("- ").partition(" / ")
            section = {"arch": arch, "compilers": compilers.strip(" -")}
        elif line.strip():
            digest, text = line.split(" ", 1)
            out[digest] = {"text": text, **section}
    return out


def test_every_binary_prints_as_spack_lists_it(spack_cache):
    """Name, version, variants, architecture and compiler of each of the 16 binaries read
    as Spack's listing has them (booleans first and run together, quoting as Spack quotes)."""
    listing = spack_listing()
    specs = spack_cache.specs.set_index("hash")
    assert len(specs) == 16 and set(specs.index) <= set(listing)
    for digest, row in specs.iterrows():
        variants = str(row["variants"])
        printed = f"{row['package']}@{row['version']}" + (variants if variants[:1] in "+~" else " " + variants)
        assert printed == listing[digest]["text"], digest
        assert f"{row['platform']}-{row['os']}-{row['target']}" == listing[digest]["arch"]
        # the compiler Spack's section names (``%c,cxx=gcc@10.2.1``; "no compilers": none)
        header = listing[digest]["compilers"]
        assert row["compiler"] == ("none" if header == "no compilers" else header.rsplit("=", 1)[1]), digest


QUERIES = json.loads((ORACLE / "spack_queries.json").read_text())


def test_the_query_fixture_covers_spack_syntax():
    queries = QUERIES["queries"]
    assert len(queries) >= 100 and QUERIES["spack_commit"]
    errors = [q for q, a in queries.items() if "error" in a]
    assert 8 <= len(errors) < 30
    for form in ("^", "%", "%c=", "%[virtuals=", ":=", "@=", "target=:", "/", ","):
        assert any(form in q for q in queries), form


def test_find_my_spec_selects_what_spack_selects(spack_cache):
    """Every query of the fixture through the dashboard's own path (parse_input, match):
    the exact hits are the specs Spack's Spec.satisfies selects; what Spack refuses, the
    dashboard refuses with a message."""
    from dashboard.domain.match import MatchInputError, match, parse_input

    assert sorted(spack_cache.specs["hash"]) == QUERIES["specs"]
    wrong = []
    for text, answer in QUERIES["queries"].items():
        try:
            result = match(spack_cache.specs, parse_input(text), spack_cache.dependencies, nodes=spack_cache.nodes)
        except MatchInputError:
            if "error" not in answer:
                wrong.append((text, "refused", answer))
            continue
        got = sorted(result["exact"]["hash"])
        if "error" in answer or got != answer["satisfies"]:
            wrong.append((text, got, answer))
    assert not wrong, f"{len(wrong)} of {len(QUERIES['queries'])} queries differ from Spack: {wrong[:3]}"


PAGE_QUERIES = json.loads((ORACLE / "spack_page_queries.json").read_text())


def test_find_my_spec_on_cache_spack_io_pages_selects_what_spack_selects(real_data):
    """The same on the shipped cache.spack.io pages: each page record as Spack reads a
    spec written before 1.0 (its compiler is the node's compiler, ``%gcc@11`` selects it,
    what follows ``%gcc@11`` is gcc's and so selects none; ``%oneapi`` is parsed as
    ``intel-oneapi-compilers``, which a compiler written ``oneapi`` is not)."""
    from dashboard.domain.match import MatchInputError, match, parse_input

    assert sorted(set(real_data.specs["hash"])) == PAGE_QUERIES["specs"] and PAGE_QUERIES["spack_commit"]
    assert len(PAGE_QUERIES["queries"]) >= 80
    wrong = []
    for text, answer in PAGE_QUERIES["queries"].items():
        try:
            got = sorted(set(match(real_data.specs, parse_input(text))["exact"]["hash"]))
        except MatchInputError:
            if "error" not in answer:
                wrong.append((text, "refused", answer))
            continue
        if "error" in answer or got != answer["satisfies"]:
            wrong.append((text, len(got), answer.get("error") or len(answer["satisfies"])))
    assert not wrong, f"{len(wrong)} of {len(PAGE_QUERIES['queries'])} queries differ from Spack: {wrong[:3]}"


def _spack_index() -> dict:
    """The Spack-written index of the unsigned cache, read with json (v3: manifest -> blob)."""
    root = SPACK_MIRRORS / "spack-1.2-v3-unsigned"
    manifest = json.loads((root / "v3" / "manifests" / "index" / "index.manifest.json").read_text())
    digest = manifest["data"][0]["checksum"]
    return json.loads((root / "blobs" / "sha256" / digest[:2] / digest).read_text())["database"]["installs"]


def test_a_lock_of_every_record_counts_externals_and_unpushed_apart_from_missing(spack_cache, tmp_path):
    """A spack.lock whose concrete specs are the index's 25 records as Spack wrote them
    (plus one spec no cache has): binaries are cached, externals (gcc, glibc) and records
    the index holds without a binary are said to be so; only the stranger is missing."""
    from dashboard.domain.match import lock_coverage, parse_input

    installs = _spack_index()
    concrete = {h: r["spec"] for h, r in installs.items()}
    concrete["z" * 32] = {"name": "stranger", "version": "1.0", "hash": "z" * 32}
    lock = parse_input(json.dumps({"_meta": {"lockfile-version": 6}, "roots": [], "concrete_specs": concrete}))
    cov = lock_coverage(spack_cache.specs, lock, spack_cache.nodes)
    binaries = [h for h, r in installs.items() if r["in_buildcache"]]
    externals = [h for h, r in installs.items() if r["spec"].get("external")]
    assert (cov["total"], cov["cached"], cov["external"]) == (len(installs) + 1, len(binaries), len(externals)) == (26, 16, 3)
    assert cov["not_pushed"] == len(installs) - len(binaries) - len(externals) and cov["missing"] == 1
    rows = cov["rows"].set_index("hash")
    assert rows.loc["z" * 32, "status"] == "missing"
    assert set(rows.index[rows["status"] == "external"]) == set(externals)


def test_find_my_spec_names_externals_and_unpushed_records_as_such(spack_cache):
    """``gcc`` has no binary in the cache Spack wrote (Spack's answer: 0 hits), but the
    index records two external gcc: they are named as externals, not left unexplained."""
    from dashboard.domain.match import match, parse_input

    installs = _spack_index()
    for text, name in (("gcc", "gcc"), ("gcc-runtime@12", "gcc-runtime")):
        result = match(spack_cache.specs, parse_input(text), spack_cache.dependencies, nodes=spack_cache.nodes)
        assert result["exact"].empty
        want = {h: "external" if r["spec"].get("external") else "not pushed" for h, r in installs.items()
                if r["spec"]["name"] == name and not r["in_buildcache"]
                and (text == name or r["spec"]["version"].startswith("12"))}
        assert want and dict(zip(result["not_binaries"]["hash"], result["not_binaries"]["status"])) == want


@pytest.mark.parametrize("store", [True, False], ids=["with-store", "no-store"])
def test_sizes_are_the_tarballs_in_spacks_manifests_with_or_without_the_store(tmp_path, store):
    """Each binary's size is its tarball's contentLength in the spec manifest Spack wrote
    (read here with json), whether or not the local store is on."""
    from dashboard.load import load

    root = SPACK_MIRRORS / "spack-1.2-v3-unsigned"
    want = {}
    for path in (root / "v3" / "manifests" / "spec").rglob("*.spec.manifest.json"):
        data = json.loads(path.read_text())["data"]
        want[path.name.removesuffix(".spec.manifest.json").rsplit("-", 1)[1]] = next(
            d["contentLength"] for d in data if d["mediaType"].startswith("application/vnd.spack.install"))
    data = load(root, cache=store, cache_dir=tmp_path, sizes=True)
    got = dict(zip(data.specs["hash"], data.specs["size"]))
    assert len(want) == 16 and got == want
