"""The command line given hostile or mistaken values: each ends with a message on
stderr and a non-zero exit, never a traceback, within bounded time (the server is
never started on a bad port or address)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT
from support import PATIENCE

LONG = "a" * 100_000


def _cases(tmp):
    (tmp / "deep.json").write_text("{" + '"a":[' * 100_000)
    (tmp / "nameless.json").write_text('{"spec": {"_meta": {"version": 5}, "nodes": [{"name": null}]}}')
    (tmp / "binary.json").write_bytes(bytes(range(256)) * 8)
    return {
        "100,000-character --data": ["summary", "--data", LONG],
        "spec.json nested 100,000 deep": ["match", str(tmp / "deep.json")],
        "spec.json whose node has no name": ["match", str(tmp / "nameless.json")],
        "binary spec.json": ["match", str(tmp / "binary.json")],
        "export into a folder": ["export", str(tmp)],
        "export into a missing folder": ["export", str(tmp / "missing" / "x.html")],
        "export to a full disk": ["export", "/dev/full"],
        "diff --csv into a folder": ["diff", "--csv", str(tmp), "develop-2025-03-30", "develop-2025-03-31"],
        "diff --csv into a missing folder": ["diff", "--csv", str(tmp / "missing" / "x.csv"), "develop-2025-03-30", "develop-2025-03-31"],
        "serve --port -1": ["serve", "--port", "-1"],
        "serve --port 70000": ["serve", "--port", "70000"],
        "serve --port text": ["serve", "--port", "http"],
        "serve --address 999.1.1.1": ["serve", "--address", "999.1.1.1", "--port", "0"],
        "unknown tag": ["diff", "nope", "develop"],
        "unknown subcommand": ["explode"],
        "--data that does not exist": ["summary", "--data", str(tmp / "nothing-here")],
    }


CASES = [
    "100,000-character --data", "spec.json nested 100,000 deep", "spec.json whose node has no name", "binary spec.json",
    "export into a folder", "export into a missing folder", "export to a full disk", "diff --csv into a folder",
    "diff --csv into a missing folder", "serve --port -1", "serve --port 70000", "serve --port text",
    "serve --address 999.1.1.1", "unknown tag", "unknown subcommand", "--data that does not exist",
]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_value_is_a_message_and_a_non_zero_exit_never_a_traceback(tmp_path, case):
    args = _cases(tmp_path)[case]
    if case == "export to a full disk" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this machine")
    env = {**os.environ, "SPACK_CACHE_DASHBOARD_CACHE": str(tmp_path / "store")}
    run = subprocess.run([sys.executable, "-m", "dashboard.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=PATIENCE)
    assert run.returncode != 0, (run.stdout[-500:], run.stderr[-500:])
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "error" in run.stderr.lower(), run.stderr[-500:]
    assert len(run.stderr) < 2000  # a 100,000-character value is cut short in the message
