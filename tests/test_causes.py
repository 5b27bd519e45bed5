"""Why binaries were rebuilt (dashboard.domain.causes), checked against ground truth:
two caches Spack built and pushed (tests/oracle/rebuild-pair, made by
scripts/spack_oracle/rebuild_pair.sh) with Spack's own `spack diff` of their roots, and
generated snapshot pairs whose causes the generator knows (benchmarks/scenarios.py)."""

from __future__ import annotations

import json
import shutil
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
    classes = dict(zip(spack_pair.changed["package"].astype(str) + "/" + spack_pair.changed["hash"], spack_pair.changed["classes"].astype(str)))
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


def test_why_cli_on_the_spack_built_pair(capsys):
    """`why OLD NEW --json` names Spack's cause and the binaries Spack rebuilt; --exit-code
    says something changed; a missing tag and a source of two tags are usage errors."""
    from dashboard.cli import main

    code = main(["why", str(PAIR / "old"), str(PAIR / "new"), "--sizes", "--json", "--specs", "--exit-code"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(c["package"], c["classes"], c["specs"]) for c in out["causes"]] == [("plib", "version", 4)]
    new_find = {h for _, name, _, h in _find(PAIR / "new.find.txt") if name in PEER}
    old_find = {h for _, name, _, h in _find(PAIR / "old.find.txt") if name in PEER}
    assert {row["hash"] for row in out["changed"]} == new_find - old_find
    assert out["causes"][0]["bytes"] > 0 and out["causes"][0]["unknown"] == 0
    assert main(["why", "--data", str(PAIR / "old"), "nope", "old"]) == 2
    assert "no tag 'nope'" in capsys.readouterr().err


def test_why_cli_refuses_a_source_of_several_tags(tmp_path, capsys):
    from dashboard.cli import main

    old, new, _ = scenario("version")
    index = write_set(tmp_path, old, new)
    assert main(["why", str(index), "new"]) == 2
    assert "holds tags new, old" in capsys.readouterr().err
    assert main(["why", "--data", str(index), "old", "new", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cause,package,classes") and len(lines) == 2


@pytest.fixture(scope="module")
def why_server(tmp_path_factory):
    """The app served on the "two causes" scenario (tags old, new; stacks data, web), sizes read."""
    from conftest import STORE_ENV
    from support import free_port, start_server

    old, new, truth = scenario("two causes")
    index = write_set(tmp_path_factory.mktemp("scenario"), old, new)
    port = free_port()
    proc = start_server(str(index), port, env={STORE_ENV: str(tmp_path_factory.mktemp("store"))}, extra_args=["--sizes"])
    yield f"http://127.0.0.1:{port}/", truth
    proc.terminate()
    proc.wait(timeout=10)
    blocks = proc.log.read_text().split("Traceback (most recent call last):")[1:]
    assert not [b for b in blocks if "WebSocketClosedError" not in b and "StreamClosedError" not in b], blocks[:1]


@pytest.mark.browser
def test_why_view_ranks_the_causes_and_lists_a_causes_specs(why_server, page, artifacts):
    """In Chromium: the numbers and the ranked causes are the generator's truth; a click
    on a cause lists exactly the specs it rebuilt, puts it in the URL, and that URL opened
    afresh shows the same; nothing is loaded from off this machine."""
    from support import PATIENCE_MS, wait_value

    url, truth = why_server
    pg = page
    outside: list[str] = []
    pg.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else outside.append(r.url))
    pg.goto(url + "?view=why&old=old&new=new")
    pg.wait_for_selector(".why-causes .tabulator-row", timeout=PATIENCE_MS)
    rebuilt = set().union(*truth.causes.values())
    assert int(pg.locator("b.why-changed").inner_text().replace(",", "")) == len(rebuilt)
    assert int(pg.locator("b.why-unchanged").inner_text().replace(",", "")) == len(truth.unchanged)
    rows = pg.locator(".why-causes .tabulator-row")
    assert rows.count() == len(truth.causes)
    by_size = sorted(truth.causes.items(), key=lambda kv: -len(kv[1]))
    first = rows.nth(0)
    assert first.locator("[tabulator-field=specs]").inner_text() == str(len(by_size[0][1]))
    assert by_size[0][0][0] in first.locator("[tabulator-field=cause]").inner_text()
    pg.locator(".why-heatmap canvas").first.wait_for(timeout=PATIENCE_MS)  # the stack x cause heatmap is drawn
    pg.screenshot(path=str(artifacts / "why-view.png"), full_page=True)
    rows.nth(1).click()
    (package, cls), hashes = by_size[1]
    wait_value(pg, lambda p: p.locator(".why-picked").inner_text() if p.locator(".why-picked").count() else "",
               f"recipe of {package} changed rebuilt {len(hashes)} specs:")
    wait_value(pg, lambda p: f"cause=recipe+of+{package}+changed" in p.url, True)  # the URL follows (sent after the answer)
    pg.locator(".why-specs .tabulator-row").first.wait_for(timeout=PATIENCE_MS)  # the table is drawn once a cause is picked
    shown = set()
    while True:  # every page of the rebuilt specs
        shown |= {c.inner_text() for c in pg.locator(".why-specs .tabulator-row [tabulator-field=hash]").all()}
        nxt = pg.locator(".why-specs .tabulator-page[data-page=next]")
        if nxt.is_disabled():
            break
        nxt.click()
    assert shown == hashes
    paths = pg.locator(".why-specs .tabulator-row [tabulator-field=path]").all_inner_texts()
    assert paths and all(p.split(" → ")[-1].startswith(f"{package}@") for p in paths)
    pg.screenshot(path=str(artifacts / "why-view-picked.png"), full_page=True)
    pg.goto(pg.url)  # the URL alone brings the same listing back
    wait_value(pg, lambda p: p.locator(".why-picked").inner_text() if p.locator(".why-picked").count() else "",
               f"recipe of {package} changed rebuilt {len(hashes)} specs:")
    pg.goto(url + "?view=why&old=old&new=old")
    pg.get_by_text("Both sides are the same tag").wait_for(timeout=PATIENCE_MS)
    pg.goto(url + "?view=why&old=nope&cause=nothing+like+this")  # an unknown tag and cause: defaults, nothing picked
    pg.wait_for_selector(".why-causes .tabulator-row", timeout=PATIENCE_MS)
    pg.get_by_text("Click a cause to list the specs it rebuilt.").wait_for(timeout=PATIENCE_MS)
    assert not pg.errors, pg.errors
    assert not outside, outside


@pytest.mark.parametrize("length", [32, 7])
def test_hash_positions_agree_with_pandas(length):
    """Hashes are looked up by a key read from Arrow's buffers (32 characters) or by
    Arrow (any other length): both agree with pandas' Index.get_indexer, absent ones -1."""
    import numpy as np
    import pandas as pd

    from dashboard.domain.causes import _positions

    rng = np.random.default_rng(length)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz234567"))
    known = pd.Series(["".join(rng.choice(alphabet, length)) for _ in range(3000)], dtype="str").drop_duplicates(ignore_index=True)
    asked = pd.concat([known.sample(5000, replace=True, random_state=1), pd.Series(["".join(rng.choice(alphabet, length)) for _ in range(500)])],
                      ignore_index=True).astype("str")
    want = pd.Index(known.astype(object)).get_indexer(asked.astype(object))
    assert (want == -1).sum() > 0
    assert _positions(asked, known).tolist() == want.tolist()


def test_why_since_last_compares_a_mirror_with_the_index_the_store_kept(tmp_path, capsys, monkeypatch):
    """A mirror read once, then changed in place: `why --since-last` compares it with the
    index the store kept from before, and names the scenario's cause and its specs."""
    from benchmarks.mirrors import write_mirror
    from benchmarks.scenarios import document, nodes
    from conftest import STORE_ENV
    from dashboard.cli import main

    monkeypatch.setenv(STORE_ENV, str(tmp_path / "store"))
    old, new, truth = scenario("version")
    mirror = tmp_path / "mirror"
    for side in (old, new):
        selected = list(nodes(side).values())
        shutil.rmtree(mirror, ignore_errors=True)
        write_mirror(mirror, [dict(n, size=None) for n in selected], spec_manifests=False, document=document(selected))
        if side is old:
            assert main(["why", "--since-last", str(mirror)]) == 2  # read once: nothing kept yet
            assert "keeps no earlier index" in capsys.readouterr().err
    assert main(["why", "--since-last", str(mirror), "--json", "--specs"]) == 0
    out = json.loads(capsys.readouterr().out)
    (package, cls), hashes = next(iter(truth.causes.items()))
    assert [(c["package"], c["classes"]) for c in out["causes"]] == [(package, cls)]
    assert {row["hash"] for row in out["changed"]} == hashes
    assert "(fetched " in out["old"] and out["new"].endswith("(now)")
    assert main(["why", str(mirror)]) == 2 and main(["why", "--since-last", str(mirror), str(mirror)]) == 2
