"""Bad and odd input: a generated corpus built from the real pages.

Two families, each page checked against an independent reading (PyYAML on the
original real page, counting spec records with a hash):

* *equivalent* pages: the same document as PyYAML reads it, written the ways
  other tools write YAML (byte-order mark, CRLF/CR line ends, blank lines,
  comments, key orders, block or flow style, quoting).  The loader must give
  exactly the original page's spec rows, whichever of its two paths (JSON
  fast path, PyYAML fallback) reads the variant.
* *bad* pages: classes an independent review found breaking the whole load,
  corrupting silently or hanging.  Each must become one problem row naming
  its file, with the exact good-spec count below, and never stop the others.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REAL_PAGES, ROOT
from dashboard.sources.parse import parse_pages

SPEC_COLUMNS = ["hash", "version", "compiler", "os", "platform", "target", "variants", "stacks", "size"]
SOURCES = sorted(REAL_PAGES.rglob("specs.md"))[::7]  # 11 real pages from all four tags


def front_matter(text: str) -> str:
    return text.split("\n---", 1)[0].removeprefix("---\n")


def reference_doc(path: Path) -> dict:
    """The independent reading: PyYAML's safe loader on the real page."""
    return yaml.safe_load(front_matter(path.read_text()))


def good_specs(doc: dict) -> int:
    return sum(1 for s in doc["spec_details"] if isinstance(s, dict) and s.get("hash"))


def parsed_rows(path: Path) -> tuple[list[tuple], list[str], list[str], str]:
    """(spec rows, errors, warnings, tag) the product reads from one page."""
    tables = parse_pages([(0, str(path))])
    specs = tables["specs"].to_pydict()
    rows = sorted(zip(*(specs[c] for c in SPEC_COLUMNS)))
    problems = tables["problems"].to_pydict()
    errors = [p for p, s in zip(problems["problem"], problems["severity"]) if s == "error"]
    warnings = [p for p, s in zip(problems["problem"], problems["severity"]) if s == "warning"]
    tag = tables["pages"].column("tag")[0].as_py()
    return rows, errors, warnings, tag


# -- equivalent spellings of the same document -------------------------------------------------

def _lines(text: str) -> list[str]:
    return text.split("\n")


def _yaml_dump(doc: dict, **kwargs) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10**9, **kwargs)


EQUIVALENT = {
    "bom": lambda text, doc: "\ufeff" + text,
    "crlf": lambda text, doc: text.replace("\n", "\r\n"),
    "cr": lambda text, doc: text.replace("\n", "\r"),
    "blank_lines": lambda text, doc: text.replace("\nmeta:", "\n\n\nmeta:").replace("\nspec_details:", "\n  \nspec_details:"),
    "comment_line": lambda text, doc: text.replace("\nlayout:", "\n# written by a tool\nlayout:", 1),
    "keys_reordered": lambda text, doc: "---\n" + "\n".join(reversed([l for l in _lines(front_matter(text)) if l])) + "\n---\n",
    "title_single_quoted": lambda text, doc: text.replace(f'title: "{doc["title"]}"', f"title: '{doc['title']}'", 1),
    "title_plain": lambda text, doc: text.replace(f'title: "{doc["title"]}"', f"title: {doc['title']}", 1),
    "categories_quoted": lambda text, doc: text.replace(f"categories: [package, {doc['categories'][1]}]", f'categories: ["package", "{doc["categories"][1]}"]', 1),
    "categories_block": lambda text, doc: text.replace(f"categories: [package, {doc['categories'][1]}]", f"categories:\n- package\n- {doc['categories'][1]}", 1),
    "yaml_block_style": lambda text, doc: f"---\n{_yaml_dump(doc, default_flow_style=False)}---\n",
    "yaml_flow_style": lambda text, doc: f"---\n{_yaml_dump(doc, default_flow_style=None)}---\n",
    "json_indented": lambda text, doc: text.replace(
        "spec_details: " + json.dumps(doc["spec_details"]), "spec_details:\n  " + json.dumps(doc["spec_details"], indent=2).replace("\n", "\n  "), 1
    ),
    "trailing_spaces": lambda text, doc: text.replace("\n", "  \n").replace("---  \n", "---\n"),
    "body_after_front_matter": lambda text, doc: text + "\n# A body\n---\nmore dashes\n",
}


@pytest.mark.parametrize("variant", sorted(EQUIVALENT))
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_equivalent_spellings_load_the_same_specs(tmp_path, source, variant):
    text = source.read_text()
    doc = reference_doc(source)
    page = tmp_path / doc["categories"][1] / source.parent.name / "specs.md"
    page.parent.mkdir(parents=True)
    page.write_bytes(EQUIVALENT[variant](text, doc).encode("utf-8"))
    # the variant really is the same document for PyYAML
    variant_text = page.read_bytes().decode("utf-8").removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    assert yaml.safe_load(front_matter(variant_text)) == doc
    expected, _, _, _ = parsed_rows(source)
    rows, errors, warnings, tag = parsed_rows(page)
    assert not errors
    assert len(rows) == good_specs(doc)
    assert rows == expected
    assert tag == doc["categories"][1]
    assert not [w for w in warnings if "meta" not in w]


# -- bad pages ----------------------------------------------------------------------------------

BASE = REAL_PAGES / "develop" / "py-build" / "specs.md"


def _swap(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def bad_cases() -> dict:
    """name -> (page text, good specs expected, substring of the problem row or None)."""
    text = BASE.read_text()
    doc = reference_doc(BASE)
    n = good_specs(doc)
    size0 = '"size": "-"'
    cases = {
        "size_int_beyond_int64": (_swap(text, size0, '"size": 1180591620717411303424'), n, "not a byte count"),
        "size_digits_30": (_swap(text, size0, '"size": "' + "9" * 30 + '"'), n, "not a byte count"),
        "size_digits_5000": (_swap(text, size0, '"size": "' + "7" * 5000 + '"'), n, "not a byte count"),
        "size_superscript_two": (_swap(text, size0, '"size": "\u00b2"'), n, "not a byte count"),
        "size_negative": (_swap(text, size0, '"size": -5'), n, "not a byte count"),
        "size_float": (_swap(text, size0, '"size": 12.5'), n, "not a byte count"),
        "meta_num_specs_huge": (_swap(text, '"num_specs": 52', '"num_specs": ' + "9" * 40), n, "meta.num_specs is not a count"),
        "meta_by_stack_huge": (_swap(text, '"e4s": 18', '"e4s": ' + "9" * 5000), n, "not a count"),
        "lone_surrogate_title": (_swap(text, 'title: "py-build"', 'title: "py-\\udc00build"'), 0, "surrogate"),
        "lone_surrogate_os": (_swap(text, '"os": "ubuntu24.04"', '"os": "ubuntu\\udc0024.04"'), 0, "surrogate"),
        "surrogate_pair_is_fine": (_swap(text, 'title: "py-build"', 'title: "py-build\\ud83d\\ude00"'), n, None),
        "json_nested_100000": (_swap(text, "meta: {", 'meta: {"deep": ' + _deep_json(100_000) + ", "), 0, "deep"),
        "yaml_deep_flow_after_comment": ("---\n# a comment\ntitle: x\nspec_details: " + _deep_json(100_000) + "\n---\n", 0, "deep"),
        "yaml_deep_block": ("---\ntitle: x\nspec_details:\n" + "".join("  " * i + "-\n" for i in range(300)) + "---\n", 0, "deep"),
        "yaml_alias_bomb": (
            "---\ntitle: bomb\na: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
            + "spec_details: [*j]\n---\n",
            0,
            "aliases",
        ),
        "bom": ("\ufeff" + text, n, None),
        "stacks_as_string": (_swap(text, '"stacks": ["ml-linux-aarch64-cpu", "ml-linux-aarch64-cuda", "root"]', '"stacks": "e4s"'), n, None),
        "versions_as_string": (_swap(text, '"versions": ["1.2.1"]', '"versions": "1.2.1"'), n, None),
        "variants_as_string": (_swap(text, '"variants": ["build_system=python_pip", "~virtualenv"]', '"variants": "+pic"'), n, None),
        "categories_quoted_tag": (_swap(text, "categories: [package, develop]", 'categories: [package, "develop-2025-04-20"]'), n, None),
        "categories_comma_in_quotes": (_swap(text, "categories: [package, develop]", 'categories: [package, "dev,elop"]'), n, None),
        "spec_details_twice": (text.replace("\n---", '\nspec_details: [{"hash": "x"}]\n---', 1), 0, "written twice"),
        "versions_yaml_float": ("---\ntitle: v\ncategories: [package, t]\nspec_details:\n- {hash: abc, versions: [1.10], stacks: [root], size: 5}\n---\n", 1, None),
        "empty": ("", 0, "empty"),
        "truncated": (text[: len(text) // 2], 0, "truncated"),
        "no_front_matter": ("title: x\n", 0, "no front matter"),
        "spec_details_mapping": ("---\ntitle: x\nspec_details: {a: 1}\n---\n", 0, "not a list"),
        "record_without_hash": (_swap(text, '"hash": "2elalkkoad2k6gxydeq2ctrepbvyquba", ', ""), n - 1, "without a hash"),
        "records_not_mappings": ('---\ntitle: x\ncategories: [package, t]\nspec_details: [1, "a", null, {"hash": "h", "stacks": ["root"]}]\n---\n', 1, "without a hash"),
        "title_is_a_list": ("---\ntitle: [a, b]\ncategories: [package, t]\nspec_details: [{hash: h}]\n---\n", 1, "title is a list"),
    }
    return cases


BAD = bad_cases()


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_page_is_one_problem_row_with_exact_good_specs(tmp_path, name):
    text, expected, problem = BAD[name]
    page = tmp_path / "t" / name / "specs.md"
    page.parent.mkdir(parents=True)
    page.write_bytes(text.encode("utf-8", "surrogatepass"))
    rows, errors, warnings, tag = parsed_rows(page)
    assert len(rows) == expected
    if expected == 0:
        assert len(errors) == 1, errors
    if problem is not None:
        assert any(problem in p for p in errors + warnings), (errors, warnings)
    if name == "stacks_as_string":
        assert "e4s" in {r[7] for r in rows} and "e" not in {r[7] for r in rows}
    if name == "versions_as_string":
        assert "1.2.1" in {r[1] for r in rows}
    if name == "variants_as_string":
        assert "+pic" in {r[6] for r in rows}
    if name == "categories_quoted_tag":
        assert tag == "develop-2025-04-20"
    if name == "categories_comma_in_quotes":
        assert tag == "dev,elop"
    if name == "versions_yaml_float":
        assert rows[0][1] == "1.10" and rows[0][8] == 5
    if name.startswith("size_"):
        assert sum(r[8] is None for r in rows) == expected  # unknown, never a wrong number


def test_whole_corpus_loads_in_bounded_time(tmp_path):
    """Every bad page beside the real pages, loaded in one call in a child process
    (a hang or crash there fails this test instead of the run): every good spec
    loads, every bad page is named in the problems."""
    tree = tmp_path / "tree"
    shutil.copytree(REAL_PAGES, tree)
    for name, (text, _, _) in BAD.items():
        page = tree / "bad" / name / "specs.md"
        page.parent.mkdir(parents=True)
        page.write_bytes(text.encode("utf-8", "surrogatepass"))
    script = (
        "import json, sys; from dashboard.load import load; d = load(sys.argv[1], cache=False); "
        "print(json.dumps({'specs': len(d.specs), 'paths': sorted(set(d.problems['path']))}))"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tree)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    real = sum(good_specs(reference_doc(p)) for p in REAL_PAGES.rglob("specs.md"))
    assert result["specs"] == real + sum(expected for _, expected, _ in BAD.values())
    named = {Path(p).parent.name for p in result["paths"]}
    assert {name for name, (_, _, problem) in BAD.items() if problem} <= named
