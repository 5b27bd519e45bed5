"""Parquet cache: warm reloads equal cold loads; changes are picked up; corruption is rebuilt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from dashboard.load import load
from dashboard.sources.pages import page_stats

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


def listing(monkeypatch) -> list[str]:
    """Record every folder ``os.scandir`` lists from now on."""
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: (listed.append(str(path)), real_scandir(path))[1])
    return listed


def test_unchanged_tree_is_not_listed_again(tree, tmp_path, monkeypatch):
    age(tree)
    cold = load(tree, cache_dir=tmp_path / "c")
    listed = listing(monkeypatch)
    warm = load(tree, cache_dir=tmp_path / "c")
    assert rows(warm) == rows(cold) and " 0 re-parsed" in warm.cache_status
    assert listed == []  # one stat per page and per tag folder, no listing


def test_only_the_changed_folder_is_listed(tree, tmp_path, monkeypatch):
    age(tree)
    load(tree, cache_dir=tmp_path / "c")
    tag = sorted(d for d in tree.iterdir())[1]
    template = next(tag.glob("*/specs.md"))
    new = tag / "brand-new-pkg" / "specs.md"
    new.parent.mkdir()
    new.write_text(template.read_text().replace(f'title: "{template.parent.name}"', 'title: "brand-new-pkg"'))
    listed = listing(monkeypatch)
    warm = load(tree, cache_dir=tmp_path / "c")
    assert "brand-new-pkg" in set(warm.specs["package"]) and "1 re-parsed" in warm.cache_status
    assert listed == [str(tag.resolve())]
    assert rows(warm) == rows(load(tree, cache=False))


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
    # a page deeper down, in a new folder of a tag folder
    nested = pages[3].parent.parent / "group" / "nested-pkg" / "specs.md"
    nested.parent.mkdir(parents=True)
    nested.write_text(pages[3].read_text().replace(f'title: "{pages[3].parent.name}"', 'title: "nested-pkg"'))
    # a page below a package folder is not searched (a package folder holds one page)
    below = pages[4].parent / "below" / "specs.md"
    below.parent.mkdir()
    below.write_text(pages[4].read_text().replace(f'title: "{pages[4].parent.name}"', 'title: "below-pkg"'))
    warm = load(tree, cache_dir=cache)
    assert "3 re-parsed" in warm.cache_status and "1 removed" in warm.cache_status, warm.cache_status
    assert "nested-pkg" in set(warm.specs["package"]) and "below-pkg" not in set(warm.specs["package"])
    fresh = load(tree, cache=False)
    assert rows(warm) == rows(fresh)
    assert "z" * 32 in set(warm.specs["hash"]) and first_hash not in set(warm.specs.loc[warm.specs["package"] == changed.parent.name, "hash"])
    assert "extra-tag" in warm.tags
    assert str(removed.resolve()) not in set(warm.pages["path"])


@pytest.mark.parametrize("count", [10, 1200], ids=["few", "batched-in-threads"])
def test_page_stats_equal_os_stat(tree, count):
    pages = [str(p) for p in sorted(tree.rglob("specs.md"))]
    paths = (pages * (count // len(pages) + 1))[:count] + [str(tree / "gone" / "specs.md"), str(tree)]
    size, mtime = page_stats(paths)
    assert list(zip(size[:-2].tolist(), mtime[:-2].tolist())) == [(os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths[:-2]]
    assert size[-2] == mtime[-2] == -1  # missing
    assert size[-1] == mtime[-1] == -1  # a folder is not a page


def test_page_stats_of_a_name_that_is_not_utf8(tree, tmp_path):
    odd = os.fsdecode(bytes(tmp_path) + b"/\xff\xfe")  # pyarrow cannot encode it: os.stat takes over
    try:
        os.mkdir(odd)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    page = os.path.join(odd, "specs.md")
    Path(page).write_text("---\n---\n")
    pages = [str(p) for p in sorted(tree.rglob("specs.md"))]
    paths = (pages * (1200 // len(pages) + 1))[:1200] + [page]
    size, mtime = page_stats(paths)
    assert (size[-1], mtime[-1]) == (os.stat(page).st_size, os.stat(page).st_mtime_ns)
    assert (size[0], mtime[0]) == (os.stat(paths[0]).st_size, os.stat(paths[0]).st_mtime_ns)


@pytest.mark.parametrize("aged", [False, True], ids=["fresh-tree", "aged-tree"])
def test_page_removed_then_back_in_the_same_folder(tree, tmp_path, aged):
    # the tag folder's mtime does not change: only the package folder's does
    cache = tmp_path / "c"
    if aged:
        age(tree)
    page = sorted(tree.rglob("specs.md"))[5]
    text = page.read_text()
    full = rows(load(tree, cache_dir=cache))
    page.unlink()
    gone = load(tree, cache_dir=cache)
    assert "1 removed" in gone.cache_status and len(rows(gone)) < len(full)
    (page.parent / "sub").mkdir()  # the folder left behind is now searched like any other
    (page.parent / "sub" / "specs.md").write_text(text)
    sub = load(tree, cache_dir=cache)
    assert "1 re-parsed" in sub.cache_status, sub.cache_status
    page.write_text(text)  # back: its folder is a package folder again, "sub" is not searched
    back = load(tree, cache_dir=cache)
    assert rows(back) == full == rows(load(tree, cache=False))


def test_cache_of_another_source_is_not_used(tree, tmp_path):
    cache = tmp_path / "c"
    load(tree, cache_dir=cache)
    one_tag = sorted(tree.iterdir())[0]
    other = load(one_tag, cache_dir=cache)
    assert other.cache_status.startswith("cold (cache written for another source)"), other.cache_status
    assert set(other.tags) == {one_tag.name}


def _edit_manifest(cache, **changes):
    manifest = json.loads((cache / "manifest.json").read_text())
    manifest.update(changes)
    (cache / "manifest.json").write_text(json.dumps(manifest))


def _edit_stats(cache, edit):
    manifest = json.loads((cache / "manifest.json").read_text())
    path = cache / manifest["stats"]
    with pa.OSFile(str(path)) as source:  # read whole before it is rewritten
        stats = pa.ipc.open_file(source).read_pandas()
    table = pa.Table.from_pandas(edit(stats), preserve_index=False)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _set_first_id(value):
    def edit(stats):
        stats.loc[0, "page_id"] = value
        return stats

    return edit


DAMAGE = {
    "truncate_table": lambda c: (c / "s0.specs.arrow").write_bytes((c / "s0.specs.arrow").read_bytes()[:100]),
    "garbage_manifest": lambda c: (c / "manifest.json").write_text("{not json"),
    "wrong_rows": lambda c: (c / "manifest.json").write_text((c / "manifest.json").read_text().replace('"specs": ', '"specs": 1')),
    "missing_table": lambda c: (c / "s0.specs.arrow").unlink(),
    "manifest_is_a_list": lambda c: (c / "manifest.json").write_text("[]"),
    "next_id_not_int": lambda c: _edit_manifest(c, next_id="12"),
    "next_id_zero": lambda c: _edit_manifest(c, next_id=0),
    "next_id_huge": lambda c: _edit_manifest(c, next_id=10**12),
    "segments_not_list": lambda c: _edit_manifest(c, segments={"s0": 1}),
    "stats_lack_size": lambda c: _edit_stats(c, lambda s: s.drop(columns="size")),
    "page_id_huge": lambda c: _edit_stats(c, _set_first_id(10**12)),
    "page_id_negative": lambda c: _edit_stats(c, _set_first_id(-3)),
    "page_id_repeated": lambda c: _edit_stats(c, lambda s: s.assign(page_id=[0] * len(s))),
    "format_a_string": lambda c: _edit_manifest(c, format=str(json.loads((c / "manifest.json").read_text())["format"])),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_corrupt_cache_is_rebuilt(tree, tmp_path, damage):
    """A damaged store is detected and rebuilt: every spec loads, this run and the next."""
    cache = tmp_path / "c"
    cold = load(tree, cache_dir=cache)
    DAMAGE[damage](cache)
    again = load(tree, cache_dir=cache)
    assert again.cache_status.startswith("cold"), again.cache_status
    if damage == "format_a_string":  # the reason tells the two apart ('8' != 8, not 8 != 8)
        assert "'" in again.cache_status, again.cache_status
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
    before = (cache / "s0.specs.arrow").stat().st_mtime_ns
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
            assert (cache / "s0.specs.arrow").stat().st_mtime_ns == before and (cache / "s1.specs.arrow").exists()
    assert any("rewritten" in st for st in statuses), statuses
    again = load(tree, cache_dir=cache)
    assert " 0 re-parsed" in again.cache_status and rows(again) == rows(load(tree, cache=False))


def test_pages_added_to_a_tree_that_was_empty(tmp_path):
    """A tree loaded while empty, then given a page: the page is read (the store of an
    empty tree once made every later load fail with an IndexError).  Oracle: PyYAML's
    count of the page's spec records."""
    import shutil

    import yaml

    from conftest import REAL_PAGES

    tree = tmp_path / "tree"
    (tree / "develop").mkdir(parents=True)
    first = load(tree, cache_dir=tmp_path / "store")
    assert first.specs.empty
    page = next(REAL_PAGES.rglob("specs.md"))
    shutil.copytree(page.parent, tree / "develop" / page.parent.name)
    again = load(tree, cache_dir=tmp_path / "store")
    want = len(yaml.safe_load(page.read_text().split("---")[1])["spec_details"])
    assert len(again.specs) == want and again.report.parsed == 1
