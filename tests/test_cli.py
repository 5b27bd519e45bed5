"""The command line as scripts and CI use it: ``--json`` (the schemas of docs/cli.md),
``--format csv``, ``--version``, the exit codes (0 done, 1 with ``--exit-code``, 2
usage, 3 a source failed, each failed source named on stderr), and pipes.  Expected
values come from PyYAML's reading of the pages, pandas, and the installed package's
metadata."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest

from conftest import REAL_PAGES, ROOT


def cli(*args, tmp_path, check=None):
    env = {**os.environ, "SPACK_CACHE_DASHBOARD_CACHE": str(tmp_path / "store")}
    run = subprocess.run([sys.executable, "-m", "dashboard.cli", *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    if check is not None:
        assert run.returncode == check, (run.returncode, run.stdout[-1000:], run.stderr[-1000:])
    return run


def test_version_is_the_installed_one(tmp_path):
    assert cli("--version", tmp_path=tmp_path, check=0).stdout.split() == ["spack-cache-dashboard", version("spack-cache-dashboard")]


def test_summary_json_and_csv_count_what_pyyaml_reads(tmp_path, reference):
    data = json.loads(cli("summary", "--json", tmp_path=tmp_path, check=0).stdout)
    assert set(data) == {"source", "load", "tags", "total", "signatures", "problems", "failed_sources"}
    per_tag = reference.drop_duplicates(["tag", "hash"]).groupby("tag").size()
    assert {row["tag"]: row["specs"] for row in data["tags"]} == per_tag.to_dict()
    assert data["total"]["specs"] == int(per_tag.sum()) and data["total"]["packages"] == reference["path"].nunique()
    assert data["total"]["sizes_unknown"] == int(reference.drop_duplicates(["tag", "hash"])["size"].isna().sum())
    assert data["failed_sources"] == [] and data["problems"] == []
    csv = pd.read_csv(io.StringIO(cli("summary", "--format", "csv", tmp_path=tmp_path, check=0).stdout))
    assert list(csv["tag"]) == [*sorted(per_tag.index), "TOTAL"] and list(csv["specs"]) == [*per_tag.sort_index(), per_tag.sum()]


def test_diff_exit_code_json_and_csv_agree(tmp_path, reference):
    a, b = "develop-2025-03-23", "develop-2025-03-30"
    same = cli("diff", a, a, "--exit-code", tmp_path=tmp_path, check=0)
    assert "specs added 0" in same.stdout
    data = json.loads(cli("diff", a, b, "--json", "--exit-code", tmp_path=tmp_path, check=1).stdout)
    hashes = {t: set(reference.loc[reference["tag"] == t, "hash"]) for t in (a, b)}
    packages = {t: set(reference.loc[reference["tag"] == t, "package"]) for t in (a, b)}
    assert data["counts"]["packages_added"] == len(packages[b] - packages[a]) == len(data["packages_added"])
    assert data["counts"]["packages_removed"] == len(packages[a] - packages[b])
    rows = pd.DataFrame(data["rows"])
    csv = pd.read_csv(io.StringIO(cli("diff", a, b, "--format", "csv", tmp_path=tmp_path, check=0).stdout))
    assert len(csv) == len(rows) == sum(data["counts"][k] for k in ("specs_added", "specs_removed", "specs_changed"))
    added = set(rows.loc[rows["change"] == "added", "hash_b"])
    assert added <= hashes[b] - hashes[a]


def test_match_and_runs_here_exit_codes(tmp_path):
    assert cli("match", "zlib-that-is-not-here", "--exit-code", tmp_path=tmp_path, check=1).stdout
    hit = json.loads(cli("match", "axl", "--json", "--exit-code", tmp_path=tmp_path, check=0).stdout)
    assert hit["exact"] and all(row["package"] == "axl" for row in hit["exact"])
    none = json.loads(cli("runs-here", "--host", "linux-ubuntu22.04-m2", "--json", "--exit-code", tmp_path=tmp_path, check=1).stdout)
    assert none["runs"] == 0 and none["total"] > 0
    unknown = cli("runs-here", "--tag", "nope", tmp_path=tmp_path, check=2)
    assert "no tag 'nope'" in unknown.stderr and "present:" in unknown.stderr


@pytest.mark.parametrize("command", [["summary"], ["export", "OUT"], ["diff", "t", "t"], ["runs-here", "--host", "zen3"], ["match", "zlib"]])
def test_a_failed_mirror_is_named_on_stderr_and_exits_3(tmp_path, command):
    """One mirror of a list cannot be reached: every subcommand names it on stderr and
    exits 3, and what the other mirror holds is still used."""
    from support import free_port

    down = f"http://127.0.0.1:{free_port()}/gone"
    listing = tmp_path / "mirrors.yaml"
    listing.write_text(json.dumps({"t": {"good": str(ROOT / "assets" / "mirrors" / "spack-1.2" / "spack-1.2-v3-unsigned"), "down": down}}))
    args = [str(tmp_path / "x.html") if a == "OUT" else a for a in command]
    run = cli(*args, "--data", listing, tmp_path=tmp_path, check=3)
    assert down in run.stderr and "error:" in run.stderr
    if command[0] == "export":
        assert (tmp_path / "x.html").stat().st_size > 0


def test_nothing_loaded_exits_3_and_a_pipe_closed_early_is_quiet(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("summary", "--data", empty, tmp_path=tmp_path, check=3).stderr.startswith("error:")
    env = {**os.environ, "SPACK_CACHE_DASHBOARD_CACHE": str(tmp_path / "store")}
    piped = subprocess.run(f"{sys.executable} -m dashboard.cli summary --data {REAL_PAGES} --json | head -c 1", shell=True, cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300, executable="/bin/bash")
    assert piped.stdout == "{" and "Traceback" not in piped.stderr and "Broken pipe" not in piped.stderr


@pytest.mark.parametrize("n", [0, 1, 1023, 1024, 1536, 44_406_326, 1_073_689_395, 1_073_741_823, 2**40, 5 * 10**12, 123_456_789_012])
def test_sizes_read_as_numfmt_prints_them(n):
    """Human sizes in IEC units; the oracle is GNU ``numfmt --to=iec-i --round=nearest``."""
    from dashboard.core.terms import human_bytes

    if n < 1024:
        assert human_bytes(n) == f"{n} B"
        return
    want = subprocess.run(["numfmt", "--to=iec-i", "--round=nearest", "--suffix=B", "--format=%.1f", str(n)],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert human_bytes(n).replace(" ", "") == want


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the allocator switch is for glibc")
@pytest.mark.parametrize("given, used", [(None, "malloc"), ("pymalloc", "pymalloc")])
def test_serve_runs_with_the_c_allocator_unless_told(given, used, tmp_path, monkeypatch):
    """``serve`` runs itself again with ``PYTHONMALLOC=malloc`` (so that ``malloc_trim``
    gives back what closed sessions freed), in the same process; a ``PYTHONMALLOC``
    already set is kept."""
    from support import free_port, start_server

    env = {"SPACK_CACHE_DASHBOARD_CACHE": str(tmp_path / "store")}
    if given is None:
        monkeypatch.delenv("PYTHONMALLOC", raising=False)
    else:
        env["PYTHONMALLOC"] = given
    server = start_server(str(REAL_PAGES), free_port(), env=env)
    try:
        environ = dict(item.split("=", 1) for item in Path(f"/proc/{server.pid}/environ").read_text().split("\0") if "=" in item)
        assert environ.get("PYTHONMALLOC") == used
        assert "dashboard.cli" in Path(f"/proc/{server.pid}/cmdline").read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
