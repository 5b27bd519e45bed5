"""Hostile and damaged build caches: each is a problem row naming the mirror, in bounded
time and memory, and never stops the good mirror loaded with it (the Spack-written cache
of assets/mirrors/spack-1.2: its 16 binaries are the oracle); a damaged local store is
rebuilt from the mirror."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil

import pytest

from conftest import ROOT
from dashboard.load import load

SPACK = ROOT / "assets" / "mirrors" / "spack-1.2" / "spack-1.2-v3-unsigned"
INDEX_MANIFEST = "v3/manifests/index/index.manifest.json"


def _with_index_blob(mirror, blob: bytes, **entry):
    """Make ``mirror``'s index the blob ``blob`` (stored under its sha256, as Spack stores blobs)."""
    digest = hashlib.sha256(blob).hexdigest()
    (mirror / "blobs" / "sha256" / digest[:2]).mkdir(parents=True, exist_ok=True)
    (mirror / "blobs" / "sha256" / digest[:2] / digest).write_bytes(blob)
    manifest = json.loads((mirror / INDEX_MANIFEST).read_text())
    manifest["data"][0].update({"checksum": digest, "contentLength": len(blob), **entry})
    (mirror / INDEX_MANIFEST).write_text(json.dumps(manifest))


def _break(kind: str, mirror):
    index = json.loads((SPACK / INDEX_MANIFEST).read_text())["data"][0]["checksum"]
    raw = (SPACK / "blobs" / "sha256" / index[:2] / index).read_bytes()
    if kind == "gzip that is not gzip":
        _with_index_blob(mirror, raw, compression="gzip")
    elif kind == "truncated gzip":
        _with_index_blob(mirror, gzip.compress(raw)[:-40], compression="gzip")
    elif kind == "gzip bomb":
        _with_index_blob(mirror, gzip.compress(b" " * (64 * 2**20), 9), compression="gzip")
    elif kind == "deep JSON index":
        _with_index_blob(mirror, b"[" * 100_000)
    elif kind == "deep JSON manifest":
        (mirror / INDEX_MANIFEST).write_bytes(b'{"data": ' + b"[" * 100_000)
    elif kind == "checksum escaping the mirror":
        manifest = json.loads((mirror / INDEX_MANIFEST).read_text())
        manifest["data"][0]["checksum"] = "../../../../secret"
        (mirror / INDEX_MANIFEST).write_text(json.dumps(manifest))
        (mirror.parent / "secret").write_text(raw.decode())  # a readable index outside the mirror
    elif kind == "manifest linked to /dev/zero":
        (mirror / INDEX_MANIFEST).unlink()
        os.symlink("/dev/zero", mirror / INDEX_MANIFEST)
    elif kind == "manifest is a FIFO":
        (mirror / INDEX_MANIFEST).unlink()
        os.mkfifo(mirror / INDEX_MANIFEST)


KINDS = ["gzip that is not gzip", "truncated gzip", "gzip bomb", "deep JSON index", "deep JSON manifest",
         "checksum escaping the mirror", "manifest linked to /dev/zero", "manifest is a FIFO"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_mirror_is_a_problem_row_and_the_good_one_loads(tmp_path, monkeypatch, kind):
    from dashboard.sources import mirror_fetch

    monkeypatch.setattr(mirror_fetch, "MAX_INDEX_BYTES", 16 * 2**20)  # the bound, at test scale
    bad = tmp_path / "bad"
    shutil.copytree(SPACK, bad)
    _break(kind, bad)
    listing = tmp_path / "mirrors.yaml"
    listing.write_text(json.dumps({"t": {"good": str(SPACK), "bad": str(bad)}}))
    data = load(listing, cache_dir=tmp_path / "store")
    assert len(data.specs) == 16  # the good mirror's binaries, every one
    errors = data.problems[data.problems["severity"] == "error"]
    assert len(errors) == 1 and str(bad) in errors["problem"].iloc[0], data.problems.to_dict("records")
    assert "Traceback" not in errors["problem"].iloc[0]


DAMAGE = ["state is a list", "state field of another type", "records of another schema",
          "random bytes in every arrow file", "sizes of wrong types", "set key is a list", "set table of another schema",
          "random bytes in the set's tables"]


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_mirror_store_is_named_moved_aside_and_rebuilt(tmp_path, damage):
    """Each damage to the mirror store (a mirror's own folder, or the combined copy of
    the set) is one warning naming it and where the damaged copy went; the load equals
    the first, and the load after it is clean again."""
    import pyarrow as pa

    first = load(SPACK, cache_dir=tmp_path, sizes=True)
    folder = next(f for f in (tmp_path / "mirrors").iterdir() if f.is_dir())
    sets = next(f for f in (tmp_path / "mirror-sets").iterdir() if f.is_dir())
    if damage.startswith("set") or "set's" in damage:
        if damage == "set key is a list":
            (sets / "key.json").write_text("[]")
        elif damage == "set table of another schema":
            with pa.OSFile(str(sets / "specs.arrow"), "wb") as sink, pa.ipc.new_file(sink, pa.schema([("x", pa.int8())])) as w:
                w.write_table(pa.table({"x": pa.array([1], pa.int8())}))
        else:
            for path in sets.glob("*.arrow"):
                path.write_bytes(os.urandom(4096))
        again = load(SPACK, cache_dir=tmp_path, sizes=True)
        aside = sets.with_name(sets.name + ".damaged")
        assert list(again.problems["severity"]) == ["warning"] and "damaged" in again.problems["problem"].iloc[0]
        assert str(aside) in again.problems["problem"].iloc[0] and aside.is_dir()
        assert sorted(again.specs["hash"]) == sorted(first.specs["hash"])
        assert not len(load(SPACK, cache_dir=tmp_path, sizes=True).problems)
        return
    if damage == "state is a list":
        (folder / "state.json").write_text("[1, 2]")
    elif damage == "state field of another type":
        state = json.loads((folder / "state.json").read_text())
        (folder / "state.json").write_text(json.dumps({**state, "skipped": "many", "format": str(state["format"])}))
    elif damage == "records of another schema":
        with pa.OSFile(str(folder / "records.arrow"), "wb") as sink, pa.ipc.new_file(sink, pa.schema([("x", pa.int8())])) as w:
            w.write_table(pa.table({"x": pa.array([1], pa.int8())}))
    elif damage == "random bytes in every arrow file":
        for path in folder.glob("*.arrow"):
            path.write_bytes(os.urandom(4096))
    elif damage == "sizes of wrong types":
        (folder / "sizes.json").write_text(json.dumps({h: "big" for h in first.specs["hash"]}))
    shutil.rmtree(sets)  # the combined copy too: the mirror's own folder is under test
    again = load(SPACK, cache_dir=tmp_path, sizes=True)
    assert list(again.problems["severity"]) == ["warning"], again.problems.to_dict("records")
    note = again.problems["problem"].iloc[0]
    assert "damaged" in note and str(folder.with_name(folder.name + ".damaged")) in note
    assert not len(load(SPACK, cache_dir=tmp_path, sizes=True).problems)
    assert sorted(again.specs["hash"]) == sorted(first.specs["hash"])
    assert again.specs.set_index("hash")["size"].to_dict() == first.specs.set_index("hash")["size"].to_dict()


def _stall():
    """A server that accepts connections and never answers (they complete in the backlog)."""
    import socket

    stall = socket.socket()
    stall.bind(("127.0.0.1", 0))
    stall.listen(64)
    return stall


def test_a_mirror_that_never_answers_ends_at_the_deadline(tmp_path, monkeypatch):
    """The per-source deadline (here 3 s, far below the 60 s read timeout) ends a mirror
    that never answers: one error row naming the deadline and its setting; the good
    mirror loads."""
    stall = _stall()
    monkeypatch.setenv("SPACK_CACHE_DASHBOARD_DEADLINE", "3")
    listing = tmp_path / "mirrors.yaml"
    listing.write_text(json.dumps({"t": {"good": str(SPACK), "silent": f"http://127.0.0.1:{stall.getsockname()[1]}/m"}}))
    try:
        data = load(listing, cache_dir=tmp_path / "store")
    finally:
        stall.close()
    assert len(data.specs) == 16
    assert list(data.problems["severity"]) == ["error"]
    assert "deadline" in data.problems["problem"].iloc[0] and "SPACK_CACHE_DASHBOARD_DEADLINE" in data.problems["problem"].iloc[0]


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_stops_a_load_waiting_on_a_mirror(tmp_path, signal_name):
    """A load waiting on a mirror that never answers (timeouts and deadline set to 10
    minutes) stops on Ctrl-C (exit 130, no traceback) or SIGTERM as soon as it is sent."""
    import signal
    import subprocess
    import sys

    from support import PATIENCE

    stall = _stall()
    stall.settimeout(PATIENCE)
    env = {**os.environ, "SPACK_CACHE_DASHBOARD_DEADLINE": "600", "SPACK_CACHE_DASHBOARD_TIMEOUT": "600",
           "SPACK_CACHE_DASHBOARD_CACHE": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.cli", "summary", "--data", f"http://127.0.0.1:{stall.getsockname()[1]}/m"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stall.accept()  # the load is now waiting on the mirror
        proc.send_signal(getattr(signal, signal_name))
        out, err = proc.communicate(timeout=PATIENCE)  # far below the 600 s it would otherwise wait
    finally:
        proc.kill()
        stall.close()
    assert proc.returncode == (130 if signal_name == "SIGINT" else -signal.SIGTERM), err
    assert "Traceback" not in err


def test_a_source_that_cannot_be_read_never_stops_the_others(tmp_path):
    """Several sources in one load: a mirror list nested 100,000 deep, a list that is
    not one, and a path that does not exist are each one error row naming them; the
    cache Spack wrote and the real pages load beside them."""
    from conftest import REAL_PAGES

    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100_000)
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps([1, 2, 3]))
    missing = tmp_path / "missing"
    data = load([str(SPACK), str(deep), str(odd), str(missing), str(REAL_PAGES)], cache_dir=tmp_path / "store")
    alone = load(str(SPACK), cache=False)
    pages = load(str(REAL_PAGES), cache=False)
    assert len(data.specs) == len(alone.specs) + len(pages.specs)
    errors = data.problems[data.problems["severity"] == "error"]
    assert sorted(errors["path"]) == sorted([str(deep), str(odd), str(missing)])
    assert all(path in text for path, text in zip(errors["path"], errors["problem"]))
