"""Parquet cache: warm reloads equal cold loads; changes are picked up; corruption is rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from dashboard.load import load

COLS = ["tag", "package", "hash", "version", "compiler", "os", "target", "variants", "stacks"]


def rows(data) -> list:
    return sorted(map(tuple, data.specs[COLS].astype(str).to_numpy().tolist()))


def stack_counts(data) -> dict:
    s = data.spec_stacks
    return pd.Series(data.specs["package"].astype(str).to_numpy()[s["spec"]]).groupby(s["stack"].astype(str).to_numpy()).size().to_dict()


@pytest.fixture
def tree(tmp_path):
    from benchmarks.generate import generate

    root = tmp_path / "_cache"
    generate(root, tags=3, packages=40, mean_specs=6, seed=7)
    return root


def test_warm_equals_cold_and_reparses_nothing(tree, tmp_path):
    cold = load(tree, cache_dir=tmp_path / "c")
    assert cold.cache_status.startswith("cold")
    warm = load(tree, cache_dir=tmp_path / "c")
    assert warm.cache_status.startswith("warm") and " 0 re-parsed" in warm.cache_status
    assert rows(warm) == rows(cold)
    assert stack_counts(warm) == stack_counts(cold)
    assert warm.problems.equals(cold.problems)


def age(root: Path, seconds: int = 3600):
    """Set every file and folder under ``root`` to ``seconds`` ago, so the loader
    trusts folder mtimes (a folder changed in the last 2 s is always listed)."""
    when = (os.stat(root).st_mtime_ns - seconds * 10**9,) * 2
    for path in [*root.rglob("*"), root]:
        os.utime(path, ns=when)


def test_unchanged_folders_are_not_listed_again(tree, tmp_path, monkeypatch):
    age(tree)
    cold = load(tree, cache_dir=tmp_path / "c")
    listed = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: (listed.append(str(path)), real_scandir(path))[1])
    warm = load(tree, cache_dir=tmp_path / "c")
    assert rows(warm) == rows(cold)
    # only the root and the tag folders are listed; package folders are two stat calls each
    assert sorted(listed) == sorted([str(tree.resolve())] + [str(d.resolve()) for d in tree.iterdir()])


@pytest.mark.parametrize("aged", [False, True], ids=["fresh-tree", "aged-tree"])
def test_changed_added_removed_pages(tree, tmp_path, aged):
    cache = tmp_path / "c"
    if aged:
        age(tree)
    load(tree, cache_dir=cache)
    pages = sorted(tree.rglob("specs.md"))
    changed, removed = pages[0], pages[1]
    text = changed.read_text()
    first_hash = text.split('"hash": "')[1][:32]
    changed.write_text(text.replace(first_hash, "z" * 32))
    os.utime(changed, ns=(changed.stat().st_mtime_ns + 10**9,) * 2)
    removed.unlink()
    added = tree / "extra-tag" / pages[2].parent.name / "specs.md"
    added.parent.mkdir(parents=True)
    added.write_text(pages[2].read_text().replace(f"categories: [package, {pages[2].parent.parent.name}]", "categories: [package, extra-tag]"))
    # a page in a new sub-folder of a package folder (that folder's mtime changes)
    nested = pages[3].parent / "nested" / "specs.md"
    nested.parent.mkdir()
    nested.write_text(pages[3].read_text().replace(f'title: "{pages[3].parent.name}"', 'title: "nested-pkg"'))
    warm = load(tree, cache_dir=cache)
    assert "3 re-parsed" in warm.cache_status and "1 removed" in warm.cache_status, warm.cache_status
    assert "nested-pkg" in set(warm.specs["package"])
    fresh = load(tree, cache=False)
    assert rows(warm) == rows(fresh)
    assert "z" * 32 in set(warm.specs["hash"]) and first_hash not in set(warm.specs.loc[warm.specs["package"] == changed.parent.name, "hash"])
    assert "extra-tag" in warm.tags
    assert str(removed.resolve()) not in set(warm.packages["path"])


@pytest.mark.parametrize("damage", ["truncate_parquet", "garbage_manifest", "wrong_rows", "missing_table"])
def test_corrupt_cache_is_rebuilt(tree, tmp_path, damage):
    cache = tmp_path / "c"
    cold = load(tree, cache_dir=cache)
    specs_file = cache / "s0.specs.parquet"
    if damage == "truncate_parquet":
        specs_file.write_bytes(specs_file.read_bytes()[:100])
    elif damage == "garbage_manifest":
        (cache / "manifest.json").write_text("{not json")
    elif damage == "wrong_rows":
        m = (cache / "manifest.json").read_text().replace('"specs": ', '"specs": 1')
        (cache / "manifest.json").write_text(m)
    else:
        specs_file.unlink()
    again = load(tree, cache_dir=cache)
    assert again.cache_status.startswith("cold"), again.cache_status
    assert rows(again) == rows(cold)
    assert load(tree, cache_dir=cache).cache_status.startswith("warm")


def test_real_pages_same_counts_through_cache(real_data, tmp_path):
    from conftest import REAL_PAGES

    cold = load(REAL_PAGES, cache_dir=tmp_path / "c")
    warm = load(REAL_PAGES, cache_dir=tmp_path / "c")
    assert warm.cache_status.startswith("warm")
    assert stack_counts(warm) == stack_counts(cold) == stack_counts(real_data)
    assert len(warm.specs) == 473


def test_small_changes_append_segments_then_compact(tree, tmp_path):
    """Re-parsed pages go to a new cache segment (the rest is not rewritten); when
    dead rows pile up the cache is rewritten whole.  Every load equals a fresh one."""
    cache = tmp_path / "c"
    load(tree, cache_dir=cache)
    pages = sorted(tree.rglob("specs.md"))
    before = (cache / "s0.specs.parquet").stat().st_mtime_ns
    statuses = []
    for round_ in range(4):
        # touch ~10% of the pages: same content, new mtime -> re-parsed, old rows dead
        for page in pages[round_::10]:
            os.utime(page, ns=(page.stat().st_mtime_ns + 10**9,) * 2)
        warm = load(tree, cache_dir=cache)
        statuses.append(warm.cache_status)
        assert rows(warm) == rows(load(tree, cache=False))
        assert stack_counts(warm) == stack_counts(load(tree, cache=False))
        if round_ == 0:  # the first small change only adds a segment
            assert "segment added" in warm.cache_status, warm.cache_status
            assert (cache / "s0.specs.parquet").stat().st_mtime_ns == before and (cache / "s1.specs.parquet").exists()
    assert any("rewritten" in st for st in statuses), statuses
    again = load(tree, cache_dir=cache)
    assert " 0 re-parsed" in again.cache_status and rows(again) == rows(load(tree, cache=False))
