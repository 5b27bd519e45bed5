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


class _Gate:
    """A front for the registry as public registries behave: every /v2/ request without
    the bearer token is answered 401 with a ``WWW-Authenticate: Bearer`` challenge, the
    realm hands out the token anonymously, the tag list comes in pages of 5 joined by
    ``Link: rel="next"``, and the first manifest request is answered 503."""

    def __init__(self, upstream: str):
        import http.server
        import threading

        from support import free_port

        self.port = free_port()
        self.upstream, self.seen, self.busy_once = upstream, [], False
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                gate.seen.append((self.path, self.headers.get("Authorization")))
                if self.path.startswith("/token"):
                    return self._send(200, b'{"token": "t0k"}', {"Content-Type": "application/json"})
                if self.headers.get("Authorization") != "Bearer t0k":
                    realm = f'Bearer realm="http://127.0.0.1:{gate.port}/token",service="gate",scope="repository:spack/unsigned:pull"'
                    return self._send(401, b"{}", {"WWW-Authenticate": realm})
                if "/manifests/" in self.path and not gate.busy_once:
                    gate.busy_once = True
                    return self._send(503, b"busy", {})
                path, _, query = self.path.partition("?")
                if path.endswith("/tags/list"):
                    tags = json.loads(_get(f"http://{gate.upstream}{path}"))["tags"]
                    start = int(dict(p.split("=") for p in query.split("&") if "=" in p).get("last", "0") or 0)
                    page = tags[start:start + 5]
                    headers = {"Content-Type": "application/json"}
                    if start + 5 < len(tags):
                        headers["Link"] = f'<{path}?n=5&last={start + 5}>; rel="next"'
                    return self._send(200, json.dumps({"name": "spack/unsigned", "tags": page}).encode(), headers)
                body = _get(f"http://{gate.upstream}{self.path}", {"Accept": self.headers.get("Accept", "")})
                return self._send(200, body, {"Content-Type": "application/json"})

            def _send(self, code, body, headers):
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_a_registry_asking_for_a_bearer_token_with_paged_tags_and_a_busy_moment(oci_registry, tmp_path):
    gate = _Gate(oci_registry)
    try:
        data = load(f"oci+http://127.0.0.1:{gate.port}/spack/unsigned", cache_dir=tmp_path, sizes=True)
    finally:
        gate.close()
    assert not len(data.problems), data.problems
    assert len(data.specs) == 16 and data.specs["size"].notna().all()  # every tag found across the 4 pages
    assert any(p.startswith("/token") for p, _ in gate.seen)
    assert sum(bool("/tags/list" in p and auth) for p, auth in gate.seen) == 4  # 17 tags, 5 a page
    manifests = [p for p, auth in gate.seen if "/manifests/" in p and auth]
    assert manifests[0] == manifests[1]  # the 503 was asked again
