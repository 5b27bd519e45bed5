"""A Spack build cache in an OCI registry, read as Spack wrote it: the registry Spack
1.2 pushed the spack-1.2 binaries to (``assets/oci/``), served on 127.0.0.1.  Oracles:
Spack's own listing of those binaries (``spack buildcache list -L -v``), the registry's
tag list, and the ``archive_size`` Spack wrote into each binary's image config."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from conftest import ROOT
from dashboard.load import load

LISTING = ROOT / "assets" / "mirrors" / "spack-1.2" / "spack-buildcache-list-allarch-Lv.txt"
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


def _get(url: str, headers=None) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=60) as reply:
        return reply.read()


def _spack_hashes() -> set[str]:
    import re

    return set(re.findall(r"^([a-z2-7]{32}) ", LISTING.read_text(), flags=re.M))


@pytest.mark.parametrize("repo", ["spack/unsigned", "spack/signed"])
def test_a_registry_holds_the_binaries_spack_lists_with_the_sizes_spack_wrote(oci_registry, tmp_path, repo):
    data = load(f"oci+http://{oci_registry}/{repo}", cache_dir=tmp_path, sizes=True)
    assert not len(data.problems), data.problems
    hashes = set(data.specs["hash"])
    externals = set(data.nodes.loc[data.nodes["external"], "hash"])
    # Spack lists the 16 binaries and the 3 externals (gcc, glibc) of the index
    assert hashes | externals == _spack_hashes() and len(hashes) == 16 and len(externals) == 3
    tags = json.loads(_get(f"http://{oci_registry}/v2/{repo}/tags/list"))["tags"]
    assert {t[:-6].rsplit("-", 1)[1] for t in tags if t != "index.spack"} == hashes
    for row in data.specs.itertuples():
        tag = f"{row.package}-{row.version}-{row.hash}.spack"
        manifest = json.loads(_get(f"http://{oci_registry}/v2/{repo}/manifests/{tag}", ACCEPT))
        config = json.loads(_get(f"http://{oci_registry}/v2/{repo}/blobs/{manifest['config']['digest']}"))
        assert row.size == config["archive_size"], tag
        assert config["spec"]["nodes"][0]["hash"] == row.hash
    # the same index as the file mirror Spack wrote: the same records, externals apart
    files = load(ROOT / "assets" / "mirrors" / "spack-1.2" / "spack-1.2-v3-unsigned", cache_dir=tmp_path / "files")
    cols = ["hash", "package", "version", "compiler", "os", "target", "variants"]
    assert sorted(map(tuple, data.specs[cols].astype(str).values)) == sorted(map(tuple, files.specs[cols].astype(str).values))
    assert len(data.nodes) == len(files.nodes) and int(data.nodes["external"].sum()) == 3


def test_an_unchanged_registry_index_is_one_manifest_request(oci_registry, tmp_path):
    url = f"oci+http://{oci_registry}/spack/unsigned"
    first = load(url, cache_dir=tmp_path)
    again = load(url, cache_dir=tmp_path)
    assert first.report.mirrors.fetched == 1 and again.report.mirrors.unchanged == 1 and again.report.mirrors.bytes == 0
    assert sorted(again.specs["hash"]) == sorted(first.specs["hash"])


def test_registry_errors_name_the_url_and_never_stop_other_mirrors(oci_registry, tmp_path):
    """A repository that does not exist, one that is no build cache, an unreachable
    registry: each a problem row naming it; the good registry still loads."""
    from support import free_port

    listing = tmp_path / "mirrors.yaml"
    listing.write_text(json.dumps({"t": {
        "good": f"oci+http://{oci_registry}/spack/unsigned",
        "none": f"oci+http://{oci_registry}/spack/nothing-here",
        "down": f"oci+http://127.0.0.1:{free_port()}/spack/unsigned",
    }}))
    data = load(listing, cache_dir=tmp_path / "store")
    assert len(data.specs) == 16
    errors = data.problems[data.problems["severity"] == "error"]
    text = " ".join(errors["problem"])
    assert len(errors) == 2 and "spack/nothing-here" in text and "unreachable" in text


def test_cli_summary_of_a_registry(oci_registry, tmp_path):
    env = {**__import__("os").environ, "SPACK_CACHE_DASHBOARD_CACHE": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "dashboard.cli", "summary", "--data", f"oci+http://{oci_registry}/spack/signed", "--verify"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "16 unsigned" in run.stdout  # Spack never signs an OCI build cache
