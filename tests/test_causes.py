"""Why binaries were rebuilt (dashboard.domain.causes), checked against ground truth:
two caches Spack built and pushed (tests/oracle/rebuild-pair, made by
scripts/spack_oracle/rebuild_pair.sh) with Spack's own `spack diff` of their roots, and
generated snapshot pairs whose causes the generator knows (benchmarks/scenarios.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.mirrors import made_up_size
from benchmarks.scenarios import SCENARIOS, scenario, write_set
from dashboard.domain.causes import DEPENDENCY, compare, snapshot
from dashboard.load import load

PAIR = Path(__file__).parent / "oracle" / "rebuild-pair"
PEER = {"papp", "pcore", "plib", "ptool"}


def _find(path: Path) -> list[tuple[int, str, str, str]]:
    """`spack find --deps` output as ``(depth, name, version, hash)`` lines."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            name, version, spec_hash = line.split()
            out.append(((len(line) - len(line.lstrip())) // 4, name, version, spec_hash))
    return out


@pytest.fixture(scope="module")
def spack_pair():
    old = load(str(PAIR / "old"), cache=False, sizes=True)
    new = load(str(PAIR / "new"), cache=False, sizes=True)
    return compare(snapshot(old, "old"), snapshot(new, "new"))


def test_spack_built_pair_agrees_with_spack_diff(spack_pair):
    """One cause, the one `spack diff` names (plib 1.0 -> 1.2), rebuilt exactly the
    binaries whose hashes Spack lists as changed; ptool stays."""
    facts = json.loads((PAIR / "spack-diff.json").read_text())
    changed_facts = {(kind, text) for kind, text in facts["b_not_a"] if kind != "hash"}
    assert changed_facts == {("version", "plib 1.2")}  # what Spack says changed, below the hashes
    old_version = next(text for kind, text in facts["a_not_b"] if kind == "version").split()[1]
    ranked = spack_pair.ranked
    assert len(ranked) == 1, ranked
    assert ranked["package"].iloc[0] == "plib" and ranked["classes"].iloc[0] == "version"
    assert f"{old_version} -> 1.2" in ranked["cause"].iloc[0]
    # rebuilt: the new papp DAG's hashes Spack lists as changed, and the other root Spack rebuilt
    old_find, new_find = _find(PAIR / "old.find.txt"), _find(PAIR / "new.find.txt")
    old_hashes = {h for _, name, _, h in old_find if name in PEER}
    new_hashes = {h for _, name, _, h in new_find if name in PEER}
    spack_changed = {text.split()[1] for kind, text in facts["b_not_a"] if kind == "hash"}
    assert spack_changed <= new_hashes - old_hashes
    assert set(spack_pair.attributed["hash"]) == new_hashes - old_hashes
    assert spack_pair.counts == {"unchanged": len(new_hashes & old_hashes), "changed": len(new_hashes - old_hashes), "added": 0, "removed": 0}
    classes = dict(zip(spack_pair.changed["package"] + "/" + spack_pair.changed["hash"], spack_pair.changed["classes"]))
    for (_, name, _, h) in new_find:
        if h in new_hashes - old_hashes:
            assert classes[f"{name}/{h}"] == ("version" if name == "plib" else DEPENDENCY)


def test_dependency_path_follows_spacks_tree(spack_pair):
    """The path from the new papp root to the cause is the chain Spack's `find --deps` prints."""
    tree = _find(PAIR / "new.find.txt")
    papp = next(h for depth, name, _, h in tree if name == "papp" and depth == 0)
    chain = [next(h for d, name, _, h in tree if name == n and d == depth) for depth, n in ((0, "papp"), (1, "pcore"), (2, "plib"))]
    assert spack_pair.path(papp, spack_pair.ranked["cause"].iloc[0]) == chain
    assert spack_pair.path(papp, "no such cause") == []


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_attribution_is_exact(tmp_path, name):
    """Each known change is one cause of its package and class, rebuilding exactly the
    binaries the generator changed; nothing else is called a cause; bytes are the spec
    manifests' sizes."""
    old, new, truth = scenario(name)
    data = load(str(write_set(tmp_path, old, new)), cache=False, sizes=True)
    result = compare(snapshot(data, "old"), snapshot(data, "new"))
    assert len(result.ranked) == len(truth.causes), result.ranked
    for (package, cls), hashes in truth.causes.items():
        row = result.ranked[(result.ranked["package"] == package) & (result.ranked["classes"] == cls)]
        assert len(row) == 1, (package, cls, result.ranked)
        got = set(result.attributed.loc[result.attributed["cause"] == row["cause"].iloc[0], "hash"])
        assert got == hashes
        assert row["specs"].iloc[0] == len(hashes)
        assert row["bytes"].iloc[0] == sum(made_up_size(h) for h in hashes) and row["unknown"].iloc[0] == 0
        was, now = truth.values[(package, cls)]
        if cls == "version":
            assert f"{was} -> {now}" in row["cause"].iloc[0]
    assert result.counts["added"] == len(truth.added)
    assert result.counts["unchanged"] == len(truth.unchanged)
    rebuilt = set().union(*truth.causes.values())
    assert set(result.changed["hash"]) == rebuilt


def test_pages_get_field_classes_only(pages_copy):
    """Page trees have no dependency edges: no change is traced to a root cause and the
    note says so.  A copy of a real tag with one spec's version (and so its hash) edited
    in its page is one changed spec of class version; the rest stay unchanged."""
    import shutil

    import yaml

    old_tag, new_tag = "develop-2025-03-30", "develop-2099-01-01"
    shutil.copytree(pages_copy / old_tag, pages_copy / new_tag)
    page = pages_copy / new_tag / "acl" / "specs.md"
    front = yaml.safe_load(page.read_text().split("---")[1])
    spec = front["spec_details"][0]
    text = page.read_text().replace(f"categories: [package, {old_tag}]", f"categories: [package, {new_tag}]")
    text = text.replace(f'"hash": "{spec["hash"]}"', '"hash": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"', 1)
    head, details = text.split("\nspec_details: ", 1)  # the first spec's versions, not meta's
    text = head + "\nspec_details: " + details.replace(f'"versions": ["{spec["versions"][0]}"]}}', '"versions": ["9.9"]}', 1)
    page.write_text(text)
    for other in (pages_copy / new_tag).glob("*/specs.md"):
        if other != page:
            other.write_text(other.read_text().replace(f"categories: [package, {old_tag}]", f"categories: [package, {new_tag}]"))
    data = load(str(pages_copy), cache=False)
    result = compare(snapshot(data, old_tag), snapshot(data, new_tag))
    assert not result.has_edges and "no dependency edges" in result.note
    assert result.changed[["package", "old_hash", "hash", "old_version", "version", "classes"]].values.tolist() == [
        ["acl", spec["hash"], "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", spec["versions"][0], "9.9", "version"]]
    n_specs = sum(len(yaml.safe_load(p.read_text().split("---")[1])["spec_details"]) for p in (pages_copy / old_tag).glob("*/specs.md"))
    assert result.counts == {"unchanged": n_specs - 1, "changed": 1, "added": 0, "removed": 0}
    assert result.ranked["cause"].tolist() == [f"acl {spec['versions'][0]} -> 9.9 (version)"]
