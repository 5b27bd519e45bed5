"""The project speaks Spack's language as Spack does: answers recorded from Spack itself
(``scripts/spack_oracle/``, the Spack commit inside each fixture), never computed here."""

from __future__ import annotations

import json
from itertools import combinations

import pytest

from conftest import ROOT
from dashboard.spack import VersionConstraintError, sort_versions, version_key, version_satisfies

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
