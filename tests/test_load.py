"""Loader tests on the real pages and on broken copies of them."""

from __future__ import annotations

import json
import os
import shutil
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from conftest import REAL_PAGES
from dashboard.load import find_pages, load


def test_every_real_page_counts_match_its_meta(real_data):
    pages = sorted(REAL_PAGES.rglob("specs.md"))
    assert len(pages) == 74
    specs, stacks = real_data.specs, real_data.spec_stacks
    loaded = pd.DataFrame({"page_id": specs["page_id"].to_numpy()[stacks["spec"]], "stack": stacks["stack"].astype(str)})
    by_page = loaded.groupby(["page_id", "stack"]).size()
    ids = real_data.pages.set_index("path")["page_id"]
    for path in pages:
        meta_line = next(line for line in path.read_text().splitlines() if line.startswith("meta: "))
        meta = json.loads(meta_line[len("meta: "):])
        counts = by_page.loc[ids[str(path.resolve())]].to_dict()
        assert counts == meta["num_specs_by_stack"], path
        assert int((specs["page_id"] == ids[str(path.resolve())]).sum()) == meta["num_specs"], path
    assert real_data.problems.empty


def test_rows_equal_independent_yaml_reading(real_data, reference):
    specs = real_data.specs
    assert len(specs) == reference.drop_duplicates(["path", "hash"]).shape[0]
    assert len(real_data.spec_stacks) == len(reference)
    ours = specs[["tag", "package", "hash", "version", "os", "target", "compiler"]].astype(str)
    theirs = reference.drop_duplicates(["path", "hash"])[list(ours.columns)]
    key = list(ours.columns)
    assert ours.sort_values(key).to_numpy().tolist() == theirs.sort_values(key).to_numpy().tolist()


def test_dtypes_and_field_variations(real_data):
    specs = real_data.specs
    for col in ("tag", "package", "version", "compiler", "os", "platform", "target", "variants", "stacks"):
        assert isinstance(specs[col].dtype, pd.CategoricalDtype), col
    assert str(specs["size"].dtype) == "Int64"
    assert specs["size"].isna().all()  # every real page says "-"
    compilers = set(specs["compiler"].astype(str))
    assert {"none", "gcc@11.4.0"} <= compilers
    assert set(real_data.tags) == {"develop", "develop-2025-03-23", "develop-2025-03-30", "develop-2025-04-20"}
    assert specs["hash"].str.len().eq(32).all()


def test_single_page_and_list(tmp_path):
    page = REAL_PAGES / "develop" / "py-build" / "specs.md"
    one = load(page, cache=False)
    assert set(one.specs["package"].astype(str)) == {"py-build"}
    assert len(one.specs) == 52
    two = load([page, REAL_PAGES / "develop-2025-04-20"], cache=False)
    assert len(two.pages) == 2 and len(two.specs) == 52 + 27


def test_missing_source_raises():
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        find_pages("/no-such-dir")


def _write(path: Path, data: bytes | str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def test_bad_pages_are_listed_and_the_rest_loads(pages_copy):
    good = (pages_copy / "develop" / "py-build" / "specs.md").read_text()
    cache = pages_copy / "develop"
    _write(cache / "empty" / "specs.md", "")
    _write(cache / "truncated" / "specs.md", good[: len(good) // 2])
    _write(cache / "latin1" / "specs.md", good.replace("py-build", "py-b\xfcild").encode("latin-1"))
    _write(cache / "nospecs" / "specs.md", "\n".join(l for l in good.splitlines() if not l.startswith("spec_details")) + "\n")
    _write(cache / "counts" / "specs.md", good.replace('"num_specs": 52', '"num_specs": 53').replace('"e4s": 18', '"e4s": 17'))
    data = load(pages_copy, cache=False)
    problems = data.problems
    by_path = problems.groupby("path")["problem"].apply(" | ".join)

    def reason(name):
        return by_path[str((cache / name / "specs.md").resolve())]

    assert reason("empty") == "empty file"
    assert "truncated" in reason("truncated")
    assert "not UTF-8" in reason("latin1") and "0xfc" in reason("latin1")
    assert "no spec_details" in reason("nospecs")
    assert "meta.num_specs is 53 but spec_details has 52" in reason("counts")
    assert "num_specs_by_stack['e4s'] is 17 but spec_details has 18" in reason("counts")
    errors = set(problems.loc[problems["severity"] == "error", "path"])
    assert len(errors) == 4
    # every real page still loads, and the inconsistent page loads too
    assert len(data.pages) - len(errors) == 75
    assert len(data.specs) == 473 + 52


def test_yaml_fallback_reads_multiline_front_matter(tmp_path):
    src = REAL_PAGES / "develop-2025-03-30" / "apfel" / "specs.md"
    import yaml

    doc = yaml.safe_load(src.read_text().split("\n---")[0][4:])
    block = yaml.safe_dump(doc, default_flow_style=False)
    _write(tmp_path / "t" / "apfel" / "specs.md", f"---\n{block}---\n")
    fast, slow = load(src, cache=False), load(tmp_path, cache=False)
    cols = ["tag", "package", "hash", "version", "compiler", "os", "target", "variants", "stacks"]
    assert slow.specs[cols].astype(str).to_dict("records") == fast.specs[cols].astype(str).to_dict("records")
    assert slow.problems.empty


def test_sizes_numbers_and_dashes(tmp_path):
    page = (REAL_PAGES / "develop-2025-04-20" / "py-packaging" / "specs.md").read_text()
    page = page.replace('"size": "-"', '"size": 123456', 3)
    _write(tmp_path / "x" / "py-packaging" / "specs.md", page)
    sizes = load(tmp_path, cache=False).specs["size"]
    assert sizes.notna().sum() == 3 and sizes.sum() == 3 * 123456


def test_markup_in_pages_stays_text(tmp_path):
    page = (REAL_PAGES / "develop-2025-03-30" / "apfel" / "specs.md").read_text()
    page = page.replace('"+python"', '"<img src=x onerror=alert(1)>"').replace('title: "apfel"', 'title: "<b>apfel</b>"')
    _write(tmp_path / "t" / "apfel" / "specs.md", page)
    specs = load(tmp_path, cache=False).specs
    assert specs["package"].astype(str).tolist() == ["<b>apfel</b>"]
    assert "<img src=x onerror=alert(1)>" in specs["variants"].astype(str).iloc[0]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_summary(tmp_path, pages_copy):
    _write(pages_copy / "develop" / "broken" / "specs.md", "---\ntitle: x\n")
    env = dict(os.environ, SPACK_CACHE_DASHBOARD_CACHE=str(tmp_path / "c"))
    out = run_cli("summary", "--data", str(pages_copy), env=env)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines() if line.strip()}
    assert lines["TOTAL"][:2] == ["74", "473"]  # packages (a page each), specs
    assert lines["develop"][:2] == ["2", "145"]
    assert "Problems: 1" in out.stdout and "broken/specs.md: truncated" in out.stdout
    empty = tmp_path / "empty"
    _write(empty / "t" / "p" / "specs.md", "")
    bad = run_cli("summary", "--data", str(empty), env=env)
    assert bad.returncode == 3 and "empty file" in bad.stdout


def test_compiler_spellings_count_as_one(real_data):
    """Older pages write gcc@=11.4.0, newer gcc@11.4.0: one compiler, one value."""
    raw = Counter()
    for path in REAL_PAGES.rglob("specs.md"):
        raw.update(re.findall(r'"compiler": "([^"]+)"', path.read_text()))
    assert raw["gcc@=11.4.0"] and raw["gcc@11.4.0"]  # both spellings really occur
    counts = real_data.specs["compiler"].astype(str).value_counts()
    assert not any("@=" in c for c in counts.index)
    assert counts["gcc@11.4.0"] == raw["gcc@=11.4.0"] + raw["gcc@11.4.0"]
    assert counts.sum() == sum(raw.values())


def test_what_the_scan_skips_is_a_problem_row(pages_copy, tmp_path, monkeypatch):
    """Hidden folders, symbolic links (broken, looping, to a folder), names that are not
    UTF-8, a broken specs.md link and a folder that cannot be listed: each one problem
    row naming it, every real page still loads, cold and warm alike."""
    import dashboard.sources.pages as pages_source

    tree = pages_copy
    some_page = tree / "develop" / "py-build"
    shutil.copytree(some_page, tree / ".hidden" / "py-build")
    (tree / "broken").symlink_to(tmp_path / "nowhere")
    (tree / "loop").symlink_to(tree)
    undecodable = os.fsdecode(b"\xff\xfe-tag")
    shutil.copytree(some_page, tree / undecodable / "py-build")
    (tree / "brokenpage").mkdir()
    (tree / "brokenpage" / "specs.md").symlink_to(tmp_path / "missing.md")
    shutil.copytree(some_page, tree / "locked" / "py-build")
    locked = str(tree / "locked")
    real_scandir = os.scandir

    def scandir(path="."):  # as root, chmod cannot make a folder unlistable: refuse it here
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(pages_source.os, "scandir", scandir)
    expected = {
        ".hidden": "hidden folder",
        "broken": "broken or looping symbolic link",
        "loop": "symbolic link to a folder",
        "\\xff\\xfe-tag": "not valid UTF-8",
        "specs.md": "not a readable file",
        "locked": "cannot list this folder",
    }
    store = tmp_path / "store"
    for run in ("cold", "warm"):
        data = load(tree, cache_dir=store)
        assert data.cache_status.startswith(run), data.cache_status
        assert len(data.specs) == 473  # the real pages only
        skipped = data.problems[data.problems["tag"].isna()]
        names = {Path(p).name: text for p, text in zip(skipped["path"], skipped["problem"])}
        assert len(skipped) == len(expected), names
        for name, reason in expected.items():
            assert reason in names[name], (name, names)


def test_a_new_kind_of_source_is_one_class_and_one_registry_line(monkeypatch, tmp_path):
    """The extension point: a source of another kind (here pages named by a made-up
    ``listfile:`` scheme, a file listing page paths) is a ``Source`` subclass plus its
    place in ``SOURCES``; ``load`` then reads it beside an ordinary pages tree and
    merges both, and its binaries are those PyYAML finds in the pages it lists."""
    import yaml

    import dashboard.sources as sources
    from dashboard.sources.base import Source
    from dashboard.sources.pages import PagesSource

    class ListFile(Source):
        kind = "list file"

        @classmethod
        def claims(cls, location):
            return location.startswith("listfile:")

        def load(self, options):
            paths = Path(self.locations[0].removeprefix("listfile:")).read_text().split()
            return PagesSource(paths).load(options)

    monkeypatch.setattr(sources, "SOURCES", (ListFile, *sources.SOURCES))
    pages = sorted(Path(REAL_PAGES).rglob("specs.md"))
    listed, rest = pages[:3], pages[3:6]
    (tmp_path / "list").write_text("\n".join(map(str, listed)))
    data = load([f"listfile:{tmp_path / 'list'}", *map(str, rest)], cache_dir=tmp_path / "store")
    expected = set()
    for page in listed + rest:
        front = yaml.safe_load(page.read_text().split("---")[1])
        tag = front["categories"][1]
        expected |= {(tag, r["hash"]) for r in front["spec_details"]}
    assert set(zip(data.specs["tag"].astype(str), data.specs["hash"])) == expected
    assert data.source.startswith("listfile:")


def test_typed_and_plain_record_reading_agree_with_yaml(real_data, reference, monkeypatch):
    """Real pages are read through typed records (msgspec structs); read again as plain
    JSON records, every spec column is the same, and both equal PyYAML's reading."""
    import msgspec

    from dashboard.sources import frontmatter

    typed = [frontmatter.read_page(p).spec_details for p in sorted(REAL_PAGES.rglob("specs.md"))]
    assert all(rows and type(rows[0]) is frontmatter.SpecRecord for rows in typed)

    class Refuses:
        def decode(self, text):
            raise msgspec.ValidationError("read these as plain records")

    monkeypatch.setattr(frontmatter, "_SPEC_RECORDS", Refuses())
    assert type(frontmatter.read_page(next(REAL_PAGES.rglob("specs.md"))).spec_details[0]) is dict
    plain = load(REAL_PAGES, cache=False)
    columns = ["tag", "package", "hash", "version", "compiler", "os", "platform", "target", "variants", "stacks", "size"]
    key = ["tag", "package", "hash"]
    ours = real_data.specs[columns].astype(str).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, plain.specs[columns].astype(str).sort_values(key).reset_index(drop=True))
    theirs = reference.drop_duplicates(["path", "hash"])[["tag", "package", "hash", "version", "os", "target", "compiler"]]
    assert ours[list(theirs.columns)].sort_values(key).to_numpy().tolist() == theirs.sort_values(key).to_numpy().tolist()


def test_arrow_allocates_through_malloc_unless_told_otherwise():
    """Loading uses Arrow's system pool (``dashboard.core.schema.use_system_allocator``),
    in the parser processes too; ``ARROW_DEFAULT_MEMORY_POOL`` still chooses."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    ask = "__import__('pyarrow').default_memory_pool().backend_name"
    assert _here_and_in_a_parser(ask, env) == ["system", "system"]
    import pyarrow as pa

    other = next(name for name in ("jemalloc", "mimalloc") if getattr(pa, f"{name}_memory_pool", None) and _pool_available(name))
    assert _here_and_in_a_parser(ask, {**env, "ARROW_DEFAULT_MEMORY_POOL": other}) == [other, other]


def test_numpy_asks_for_no_huge_pages_unless_told():
    """Loading turns NumPy's transparent-huge-page advice off
    (``dashboard.core.schema.no_huge_page_advice``), in the parser processes too, as
    NumPy's own getter reports it; ``NUMPY_MADVISE_HUGEPAGE=1`` still chooses."""
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    ask = "__import__('numpy')._core.multiarray._get_madvise_hugepage()"
    assert _here_and_in_a_parser(ask, env) == ["False", "False"]
    assert _here_and_in_a_parser(ask, {**env, "NUMPY_MADVISE_HUGEPAGE": "1"}) == ["True", "True"]


def _here_and_in_a_parser(ask: str, env: dict) -> list[str]:
    """The printed value of the expression ``ask`` in a fresh process that imported
    ``dashboard.load``, then in a parser process it spawned (which imports the pages
    module to run its chunks), under ``env``."""
    script = (
        "import sys\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from multiprocessing import get_context\n"
        "import dashboard.load\n"
        "in_parser = \"__import__('dashboard.sources.pages') and \" + sys.argv[1]\n"
        "with ProcessPoolExecutor(1, mp_context=get_context('spawn')) as pool:\n"
        "    worker = pool.submit(eval, in_parser).result()\n"
        "print(eval(sys.argv[1]), worker)\n"
    )
    root = Path(__file__).resolve().parent.parent
    ran = subprocess.run([sys.executable, "-c", script, ask], capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.split()


def _pool_available(name: str) -> bool:
    import pyarrow as pa

    try:
        getattr(pa, f"{name}_memory_pool")()
    except NotImplementedError:
        return False
    return True
