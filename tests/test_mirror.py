"""Spack mirrors as a source: the real sample indexes (database v6, v7, v8), mirror
sets generated from the real pages in both layouts, served from a local folder,
a real HTTP server and a real S3-compatible server (moto), and every kind of
broken mirror."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REAL_PAGES, ROOT, variant_tokens
from support import free_port

from benchmarks.mirrors import made_up_size, write_mirror, write_mirror_set
from dashboard.load import load
from dashboard.sources.mirror import MirrorError
from dashboard.sources.spackdb import IndexError_, parse_index, render_variants

SAMPLES = ROOT / "assets" / "mirrors"  # copied from ../shared/data/mirrors (real, from spack/spack test data)
SHARED = ["tag", "package", "hash", "version", "compiler", "os", "platform", "target", "variants", "stacks"]


def _rows(data, columns=SHARED) -> pd.DataFrame:
    rows = data.specs[columns].astype(str)
    if "variants" in rows:
        rows = rows.assign(variants=rows["variants"].map(variant_tokens))
    return rows.sort_values(["tag", "hash"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def pages():
    return load(REAL_PAGES, cache=False)


@pytest.fixture(scope="module")
def mirror_sets(tmp_path_factory):
    """v3 (db v8) and v2 (db v8) sets from the real pages, in the forms Spack writes."""
    root = tmp_path_factory.mktemp("mirrors")
    return {
        "v3": write_mirror_set(root / "v3", layout="v3", db_version=8),
        "v2": write_mirror_set(root / "v2", layout="v2", db_version=8),
    }


class _Quiet(http.server.SimpleHTTPRequestHandler):
    log: list[str] = []

    def log_message(self, fmt, *args):
        type(self).log.append(fmt % args)


@pytest.fixture
def http_server():
    """Serve a folder over real HTTP in a thread; yields ``start(folder) -> (base URL, log, stop)``."""
    servers = []

    def start(folder: Path):
        handler = type("Handler", (_Quiet,), {"log": []})
        http.server.ThreadingHTTPServer.request_queue_size = 64
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)

        def stop():
            server.shutdown()
            server.server_close()

        return f"http://127.0.0.1:{server.server_address[1]}", handler.log, stop

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- the real sample indexes ---------------------------------------------------------------


@pytest.mark.parametrize("sample, binaries", [("legacy-db6", 1), ("v2-db7", 2), ("v2-db8", 6)])
def test_cli_summary_of_each_real_sample(tmp_path, sample, binaries):
    env = dict(os.environ, SPACK_CACHE_DASHBOARD_CACHE=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "dashboard.cli", "summary", "--data", str(SAMPLES / sample)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    index = json.loads((SAMPLES / sample / "build_cache" / "index.json").read_text())["database"]["installs"]
    assert sum(r["in_buildcache"] for r in index.values()) == binaries
    total = next(line.split() for line in out.stdout.splitlines() if line.startswith("TOTAL"))
    assert int(total[2]) == binaries and "Problems: 0" in out.stdout


def test_sample_records_map_to_rows(tmp_path):
    db6 = load(SAMPLES / "legacy-db6", cache_dir=tmp_path).specs.iloc[0]
    assert (db6["package"], db6["version"], db6["compiler"], db6["target"]) == ("zlib", "1.2.11", "gcc@4.5.0", "core2")
    assert db6["hash"] == "t5mczux3tfqpxwmg7egp7axy2jvyulqk"  # spec v2: the hash is under "_hash"
    assert db6["variants"] == "+optimize+pic+shared"  # as Spack prints them: booleans run together, empty flags omitted

    data = load(SAMPLES / "v2-db8", cache_dir=tmp_path)
    raw = json.loads((SAMPLES / "v2-db8" / "build_cache" / "index.json").read_text())["database"]["installs"]
    specs = data.specs.set_index("hash")
    # the external gcc (in_buildcache false) is no binary, but stays resolvable as a dependency
    assert "vd7v4ssgnoqdplgxyig3orum67n4vmhq" not in specs.index
    assert "vd7v4ssgnoqdplgxyig3orum67n4vmhq" in set(data.dependencies["dep_hash"])
    for spec_hash, row in specs.iterrows():
        spec = raw[spec_hash]["spec"]
        target = spec["arch"]["target"]
        assert row["target"] == (target["name"] if isinstance(target, dict) else target)
        assert row["n_deps"] == len(spec.get("dependencies", []))
        assert row["os"] == spec["arch"]["platform_os"] and row["version"] == spec["version"]
    # compiler: the build dependency providing c/cxx (spec v5) or annotations.compiler (older specs)
    assert specs.loc["u5uz3dcch5if4eve4sef67o2rf2lbfgh", "compiler"] == "gcc@10.2.1"
    assert specs.loc["rqh2vuf6fqwkmipzgi2wjx352mq7y7ez", "compiler"] == "gcc@10.2.1"
    assert specs.loc["qeehcxyvluwnihsc2qxstmpomtxo3lrc", "compiler"] == "none"


def test_variants_render_as_spack_prints_them():
    params = {"shared": True, "pic": False, "build_system": "cmake", "patches": ["0f6940d1" * 8, "3e6448a2" * 8],
              "cflags": [], "cxxflags": ["-O3", "-g"], "languages": ["c", "c++"]}
    # what Spack 1.2 printed for this node: Spec.from_dict(...).format("{compiler_flags}{variants}")
    assert render_variants(params) == "cxxflags='-O3 -g' ~pic+shared build_system=cmake languages:='c,c++' patches:=0f6940d,3e6448a"


# --- mirrors generated from the real pages ---------------------------------------------------


@pytest.mark.parametrize("layout", ["v3", "v2"])
def test_generated_mirror_set_equals_the_pages(tmp_path, pages, mirror_sets, layout):
    data = load(mirror_sets[layout], cache_dir=tmp_path, sizes=layout == "v3")
    assert data.problems.empty, data.problems
    assert len(data.specs) == len(pages.specs) == 473
    pd.testing.assert_frame_equal(_rows(data), _rows(pages))
    if layout == "v3":  # sizes from the spec manifests: the page's, else the generator's made-up size
        expected = pages.specs.set_index(["tag", "hash"])["size"]
        expected = expected.fillna(pd.Series([made_up_size(h) for _, h in expected.index], index=expected.index))
        got = data.specs.set_index(["tag", "hash"])["size"]
        assert got.notna().all() and (got.sort_index() == expected.sort_index().astype("Int64")).all()
    else:
        assert data.specs["size"].isna().all()
    again = load(mirror_sets[layout], cache_dir=tmp_path, sizes=layout == "v3")
    assert again.report.mirrors.fetched == 0 and again.report.mirrors.unchanged == data.report.mirrors.mirrors
    assert again.report.mirrors.sizes_fetched == 0
    pd.testing.assert_frame_equal(_rows(again, SHARED + ["size"]), _rows(data, SHARED + ["size"]))


def test_a_changed_mirror_is_the_only_one_fetched_again(tmp_path, mirror_sets):
    root = tmp_path / "set"
    shutil.copytree(mirror_sets["v2"].parent, root)
    first = load(root / "cache_spack_io_index.json", cache_dir=tmp_path / "c")
    index = root / "develop" / "root" / "build_cache" / "index.json"
    db = json.loads(index.read_text())
    gone = next(h for h, r in db["database"]["installs"].items() if r["in_buildcache"])
    del db["database"]["installs"][gone]
    index.write_text(json.dumps(db))
    (index.parent / "index.json.hash").write_text(hashlib.sha256(index.read_bytes()).hexdigest())
    second = load(root / "cache_spack_io_index.json", cache_dir=tmp_path / "c")
    assert (second.report.mirrors.fetched, second.report.mirrors.unchanged) == (1, first.report.mirrors.mirrors - 1)
    before = set(first.specs.loc[first.specs["tag"] == "develop", "hash"])
    after = second.specs[second.specs["tag"] == "develop"].set_index("hash")["stacks"].astype(str)
    assert set(after.index) == before  # still in the e4s mirror: one spec, without the root stack now
    assert "root" not in after[gone].split(", ")


# --- served over HTTP and S3 ----------------------------------------------------------------


def test_http_mirror_set_loads_identically_then_from_one_request_each_then_offline(tmp_path, mirror_sets, http_server):
    local = load(mirror_sets["v3"], cache_dir=tmp_path / "local", sizes=True)
    base, log, stop = http_server(mirror_sets["v3"].parent)
    url = f"{base}/cache_spack_io_index.json"
    first = load(url, cache_dir=tmp_path / "c", sizes=True)
    assert first.problems.empty, first.problems
    pd.testing.assert_frame_equal(_rows(first, SHARED + ["size"]), _rows(local, SHARED + ["size"]))
    mirrors = first.report.mirrors.mirrors
    assert mirrors == 70
    log.clear()
    second = load(url, cache_dir=tmp_path / "c", sizes=True)
    # the freshness requests only: the mirror list and one index manifest per mirror
    assert len(log) == 1 + mirrors, log[:5]
    assert all("index.manifest.json" in line for line in log[1:])
    assert second.report.mirrors.unchanged == mirrors and second.report.mirrors.bytes == 0
    stop()
    offline = load(url, cache_dir=tmp_path / "c", sizes=True)
    pd.testing.assert_frame_equal(_rows(offline, SHARED + ["size"]), _rows(local, SHARED + ["size"]))
    assert offline.report.mirrors.offline == mirrors
    assert "offline" in str(offline.report)
    assert (offline.problems["severity"] == "warning").all() and offline.problems["problem"].str.contains("unreachable").all()


def test_s3_mirror_set_loads_identically(tmp_path, mirror_sets, monkeypatch):
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}.items():
            monkeypatch.setenv(name, value)
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="spack-binaries")
        root = mirror_sets["v2"].parent
        for path in root.rglob("*"):
            if path.is_file():
                client.upload_file(str(path), "spack-binaries", f"cache/{path.relative_to(root).as_posix()}")
        data = load("s3://spack-binaries/cache/cache_spack_io_index.json", cache_dir=tmp_path / "c")
        assert data.problems.empty, data.problems
        pd.testing.assert_frame_equal(_rows(data), _rows(load(mirror_sets["v2"], cache_dir=tmp_path / "l")))
        missing = load("s3://spack-binaries/nowhere", cache_dir=tmp_path / "c")
        assert missing.specs.empty and "not a build cache" in missing.problems["problem"].iloc[0]
    finally:
        server.stop()


# --- broken mirrors ------------------------------------------------------------------------


def _mirror(folder: Path, pages, **kw) -> Path:
    rows = pages.specs[pages.specs["tag"] == "develop"].head(5)
    rows = rows.astype(object).where(rows.notna(), None).to_dict("records")
    return write_mirror(folder, rows, **kw)


def test_each_broken_mirror_is_a_problem_row_and_the_others_load(tmp_path, pages, http_server):
    good = _mirror(tmp_path / "good", pages, layout="v3")
    truncated = _mirror(tmp_path / "truncated", pages, layout="v2")
    index = truncated / "build_cache" / "index.json"
    index.write_bytes(index.read_bytes()[:200])
    (index.parent / "index.json.hash").unlink()
    mismatch = _mirror(tmp_path / "mismatch", pages, layout="v2")
    (mismatch / "build_cache" / "index.json.hash").write_text("0" * 64)
    unknown = _mirror(tmp_path / "unknown", pages, layout="v2", db_version=8)
    doc = json.loads((unknown / "build_cache" / "index.json").read_text())
    doc["database"]["version"] = "42"
    (unknown / "build_cache" / "index.json").write_text(json.dumps(doc))
    (unknown / "build_cache" / "index.json.hash").unlink()
    blob = _mirror(tmp_path / "blob", pages, layout="v3")
    for path in (blob / "blobs").rglob("*"):
        if path.is_file():
            path.write_bytes(gzip.compress(b"{}"))
    (tmp_path / "empty").mkdir()
    base, _, _ = http_server(tmp_path)
    listing = {"t": {"good": str(good), "truncated": str(truncated), "mismatch": str(mismatch), "unknown": str(unknown),
                     "blob": str(blob), "empty": str(tmp_path / "empty"), "http404": f"{base}/nothing-here",
                     "refused": f"http://127.0.0.1:{free_port()}/mirror"}}
    (tmp_path / "set.yaml").write_text(json.dumps(listing))  # JSON is YAML
    data = load(tmp_path / "set.yaml", cache_dir=tmp_path / "c")
    assert len(data.specs) == 5 and set(data.specs["stacks"].astype(str)) == {"good"}
    problems = data.problems.set_index(data.problems["problem"].str.extract(r"mirror t/(\w+)")[0])["problem"]
    assert set(problems.index) == set(listing["t"]) - {"good"}
    assert "truncated" in problems["truncated"]
    assert "checksum mismatch" in problems["mismatch"] and "checksum mismatch" in problems["blob"]
    assert "unknown database version 42" in problems["unknown"]
    assert "not a build cache" in problems["empty"] and "not a build cache" in problems["http404"]
    assert "unreachable" in problems["refused"]
    for name, text in problems.items():  # each names the mirror and its URL
        assert listing["t"][name] in text
    assert (data.problems["severity"] == "error").all()


def test_parse_index_errors_are_named():
    with pytest.raises(IndexError_, match="not valid JSON|truncated"):
        parse_index(b'{"database": {"version": "8", "installs": {"ab')
    with pytest.raises(IndexError_, match="no database.installs"):
        parse_index(b'{"something": 1}')
    with pytest.raises(IndexError_, match="unknown database version 5"):
        parse_index(b'{"database": {"version": "5", "installs": {}}}')
    # an odd record is skipped and counted, the others are read
    odd = {"database": {"version": "8", "installs": {
        "a" * 32: {"spec": {"name": "zlib", "version": "1.3", "arch": {"platform": "linux", "platform_os": "x", "target": "zen3"},
                            "parameters": {"pic": True}, "hash": "a" * 32}, "in_buildcache": True},
        "b" * 32: {"spec": "not a spec", "in_buildcache": True}}}}
    records, _, info = parse_index(json.dumps(odd).encode())
    assert records.num_rows == 1 and info["skipped"] == 1


def test_unreadable_mirror_list_is_a_clear_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    with pytest.raises(MirrorError, match="bad.yaml: not a mirror list"):
        load(tmp_path / "bad.yaml", cache_dir=tmp_path / "c")
    out = subprocess.run([sys.executable, "-m", "dashboard.cli", "summary", "--data", str(tmp_path / "bad.yaml")],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, SPACK_CACHE_DASHBOARD_CACHE=str(tmp_path / "c")))
    assert out.returncode == 3 and "not a mirror list" in out.stderr and "Traceback" not in out.stderr


def test_pages_and_mirrors_together_count_each_spec_once(tmp_path, pages, mirror_sets):
    both = load([mirror_sets["v3"], REAL_PAGES], cache_dir=tmp_path, sizes=True)
    assert len(both.specs) == len(pages.specs) == 473
    pd.testing.assert_frame_equal(_rows(both), _rows(pages))
    assert both.specs["size"].notna().all()  # the mirror's row (it knows the size) is the one kept
    assert len(both.spec_stacks) == len(pages.spec_stacks)
    # a spec only in the pages stays; its stacks are the union of what each source says
    only_pages = load([mirror_sets["v2"], REAL_PAGES], cache_dir=tmp_path / "2")
    pd.testing.assert_frame_equal(_rows(only_pages), _rows(pages))


def test_dependency_tree_marks_externals_and_what_was_not_pushed(tmp_path):
    from dashboard.domain.howto import dependency_children, dependency_tree

    data = load(SAMPLES / "v2-db8", cache_dir=tmp_path)
    raw = json.loads((SAMPLES / "v2-db8" / "build_cache" / "index.json").read_text())["database"]["installs"]
    externals = set(data.nodes["hash"][data.nodes["external"]])
    tree = dependency_tree(dependency_children(data.dependencies), "u5uz3dcch5if4eve4sef67o2rf2lbfgh", set(data.specs["hash"]), externals=externals)
    direct = [node for node in tree if node[0] == 1]
    assert [n[1] for n in direct] == sorted(d["name"] for d in raw["u5uz3dcch5if4eve4sef67o2rf2lbfgh"]["spec"]["dependencies"])
    for depth, name, dep_hash, _, status, _ in tree:
        record = raw[dep_hash]
        # the index says: a binary, an external (Spack's "external" entry), or neither
        want = "binary" if record["in_buildcache"] else "external" if record["spec"].get("external") else "not pushed"
        assert status == want
    assert any(status == "external" for *_, status, _ in tree)
    assert any(depth == 2 for depth, *_ in tree)  # libelf's own dependencies, one level down


def test_spacks_own_mirrors_yaml_is_a_mirror_list(tmp_path):
    """Spack's ``mirrors.yaml`` (``mirrors: {name: url}`` and ``{name: {fetch: {url}}}``,
    as ``spack mirror add`` writes it) lists one mirror per name; an entry that is
    neither a URL, a Spack entry nor stacks is an error naming the file and tag."""
    spack = ROOT / "assets" / "mirrors" / "spack-1.2"
    listing = tmp_path / "mirrors.yaml"
    listing.write_text(yaml.safe_dump({"mirrors": {
        "plain": str(spack / "spack-1.2-v3-unsigned"),
        "signed": {"fetch": {"url": str(spack / "spack-1.2-v3-signed")}, "push": {"url": "/nowhere"}, "signed": True},
    }}))
    data = load(listing, cache_dir=tmp_path / "store")
    assert sorted(data.mirrors["tag"]) == ["plain", "signed"] and set(data.mirrors["stack"]) == {"root"}
    assert data.specs.groupby("tag", observed=True).size().to_dict() == {"plain": 16, "signed": 16}
    listing.write_text("mirrors:\n  odd: 3\n")
    with pytest.raises(MirrorError, match=r"mirrors.yaml: tag 'odd'"):
        load(listing, cache_dir=tmp_path / "store2")
