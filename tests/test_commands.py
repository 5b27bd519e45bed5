"""The install commands a user copies from a row are pasted into bash: bash itself is
the oracle.  Hostile hashes, mirror URLs, tags and stacks (from a mirror's index or a
page) never run anything; what bash hands to ``spack`` is exactly the URL and hash the
cache named, or the command is withheld with a warning."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from dashboard.domain.howto import install_commands

GOOD = "3tckw6ybgb54mwjgld2dc6nnkst7n7mq"
HOSTILE_HASHES = ["aaaa;touch x", "bbbb$(touch x)", "cccc`touch x`", "dddd\ntouch x", "eeee' ; touch x; '", "-rf x", GOOD.upper()]
HOSTILE_URLS = ["https://h/m$(touch x);x", "file:///srv/a b;touch x", "https://h/`touch x`", "https://h/it's", "https://h/m\ntouch x"]


def _paste(tmp_path, commands: list[str]) -> list[list[str]]:
    """Run the commands as one paste into bash with ``spack`` a function recording its
    arguments; returns each call's arguments."""
    script = "spack() { printf '%s\\x1f' \"$@\" >> calls; printf '\\x1e' >> calls; }\n" + "\n".join(commands) + "\n"
    subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, timeout=60)
    text = (tmp_path / "calls").read_text() if (tmp_path / "calls").exists() else ""
    return [call.split("\x1f")[:-1] for call in text.split("\x1e")[:-1]]


@pytest.mark.parametrize("spec_hash", HOSTILE_HASHES, ids=repr)
def test_a_hostile_hash_runs_nothing_and_gets_no_install_command(tmp_path, spec_hash):
    mirrors = pd.DataFrame({"tag": ["t"], "stack": ["root"], "url": ["https://h/m"]})
    commands, warnings = install_commands(mirrors, "t", "root", spec_hash)
    calls = _paste(tmp_path, commands)
    assert not (tmp_path / "x").exists()
    assert ["mirror", "add", "t", "https://h/m"] in calls
    assert not any(c[:1] == ["install"] for c in calls) and any("not a Spack DAG hash" in w for w in warnings)


@pytest.mark.parametrize("url", HOSTILE_URLS, ids=repr)
def test_a_hostile_mirror_url_reaches_spack_as_one_argument_or_not_at_all(tmp_path, url):
    mirrors = pd.DataFrame({"tag": ["t"], "stack": ["root"], "url": [url]})
    commands, warnings = install_commands(mirrors, "t", "root", GOOD)
    calls = _paste(tmp_path, commands)
    assert not (tmp_path / "x").exists()
    adds = [c for c in calls if c[:2] == ["mirror", "add"]]
    if "\n" in url:
        assert not adds and any("control characters" in w for w in warnings)
    else:
        assert adds == [["mirror", "add", "t", url]] and any("quoted" in w for w in warnings)
    assert ["install", "--use-buildcache", "only", f"/{GOOD}"] in calls


@pytest.mark.parametrize("tag,stack", [("develop", "e4s$(touch x)"), ("-rf", "root"), ("v1;touch x", "root"), ("t", "a b")], ids=repr)
def test_hostile_tags_and_stacks_of_pages_run_nothing(tmp_path, tag, stack):
    """Pages name no URL: binaries.spack.io's layout is built from the tag and stack."""
    commands, _ = install_commands(pd.DataFrame(columns=["tag", "stack", "url"]), tag, stack, GOOD)
    calls = _paste(tmp_path, commands)
    assert not (tmp_path / "x").exists()
    add = next(c for c in calls if c[:2] == ["mirror", "add"])
    assert len(add) == 4 and not add[2].startswith("-")
    want = f"https://binaries.spack.io/{tag}" + ("" if stack == "root" else f"/{stack}")
    assert add[3] == want


def test_a_plain_row_gets_the_three_commands_unquoted(tmp_path):
    commands, warnings = install_commands(pd.DataFrame(columns=["tag", "stack", "url"]), "develop", "e4s, root", GOOD)
    assert commands == ["spack mirror add e4s-develop https://binaries.spack.io/develop/e4s",
                        "spack buildcache keys --install --trust", f"spack install --use-buildcache only /{GOOD}"]
    assert not warnings
    assert len(_paste(tmp_path, commands)) == 3


def test_a_page_with_a_hostile_hash_is_a_warning_row_naming_its_file(tmp_path):
    """The row loads (its other fields are data), and the problems list names the page
    and says no install command is offered; a regular-expression reading of the same
    hashes is the oracle for which rows are odd."""
    import shutil

    from conftest import REAL_PAGES
    from dashboard.load import load, odd_hashes

    page = next(REAL_PAGES.rglob("specs.md"))
    copy = tmp_path / "develop" / page.parent.name / "specs.md"
    copy.parent.mkdir(parents=True)
    shutil.copy(page, copy)
    first = load(tmp_path, cache=False).specs["hash"].iloc[0]
    copy.write_text(page.read_text().replace(first, "aaaa$(touch x);b", 1))
    data = load(tmp_path, cache=False)
    warnings = data.problems[data.problems["severity"] == "warning"]
    assert len(warnings) == 1 and warnings["path"].iloc[0] == str(copy)
    assert "aaaa$(touch x);b" in warnings["problem"].iloc[0] and "no install command" in warnings["problem"].iloc[0]
    hashes = pd.Series([GOOD, "a" * 31, "a" * 33, GOOD.upper(), "aaaa$(touch x);b", "", "é" * 16, GOOD[:-1] + "8", "2" * 32])
    assert odd_hashes(hashes).tolist() == (~hashes.str.fullmatch(r"[a-z2-7]{32}")).tolist()


def test_odd_hashes_across_chunks_and_steps():
    """Hashes in several Arrow chunks, longer than one step of the check
    (``dashboard.load.ODD_HASH_STEP``), odd ones at the steps' edges and a missing one:
    a regular expression is the oracle."""
    import random

    import pyarrow as pa

    from dashboard.load import ODD_HASH_STEP, odd_hashes

    rnd = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    values = ["".join(rnd.choice(alphabet) for _ in range(32)) for _ in range(2 * ODD_HASH_STEP + 1000)]
    for i in (0, ODD_HASH_STEP - 1, ODD_HASH_STEP, ODD_HASH_STEP + 1, len(values) - 1):
        values[i] = values[i][:-1] + rnd.choice("!A8 é")
    values[5] = values[5][:31]
    chunks = [values[:1000], values[1000:ODD_HASH_STEP + 3], values[ODD_HASH_STEP + 3:], [None]]
    hashes = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks, pa.string())))
    expected = ~hashes.fillna("").str.fullmatch(r"[a-z2-7]{32}")
    assert expected.sum() == 7
    assert odd_hashes(hashes).tolist() == expected.tolist()


def test_the_served_apps_copy_buttons_paste_safely(tmp_path, browser):
    """End to end, as a user does it: a mirror whose path holds shell syntax
    (``m$(touch PWNED);x``, a copy of the cache Spack wrote), served; each copy button of
    a row's detail is clicked and the clipboard pasted into bash: nothing runs, and
    ``spack`` receives exactly the mirror's path and the row's hash."""
    import json
    import shutil

    from conftest import ROOT, STORE_ENV
    from support import PATIENCE_MS, expand_row, free_port, start_server

    mirror = tmp_path / "m$(touch PWNED);x"
    shutil.copytree(ROOT / "assets" / "mirrors" / "spack-1.2" / "spack-1.2-v3-unsigned", mirror)
    listing = tmp_path / "mirrors.yaml"
    listing.write_text(json.dumps({"mirrors": {"site": str(mirror)}}))
    port = free_port()
    proc = start_server(str(listing), port, env={STORE_ENV: str(tmp_path / "store")})
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        pg = ctx.new_page()
        pg.goto(f"http://127.0.0.1:{port}/", timeout=PATIENCE_MS)
        pg.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
        expand_row(pg, "code.install-cmd")
        spec_hash = pg.locator(".tabulator-row").first.locator("div.tabulator-cell[tabulator-field='hash']").inner_text().strip()
        pasted = []
        for button in pg.locator(".copy-cmd").all():
            button.click()
            pasted.append(pg.evaluate("navigator.clipboard.readText()"))
    finally:
        ctx.close()
        proc.terminate()
        proc.wait(timeout=30)
    paste = tmp_path / "paste"
    paste.mkdir()
    calls = _paste(paste, pasted)
    assert not list(paste.glob("PWNED")) and not list(tmp_path.glob("PWNED"))
    assert ["mirror", "add", "site", str(mirror)] in calls
    assert any(call[:1] == ["install"] and call[-1] == f"/{spec_hash}" for call in calls), calls
