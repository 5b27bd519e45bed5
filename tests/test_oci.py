"""A Spack build cache in an OCI registry, read as Spack wrote it: the registry Spack
1.2 pushed the spack-1.2 binaries to (``assets/oci/``), served on 127.0.0.1.  Oracles:
Spack's own listing of those binaries (``spack buildcache list -L -v``), the registry's
tag list, and the ``archive_size`` Spack wrote into each binary's image config."""

from __future__ import annotations

import json
import socket
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
    ``Link: rel="next"``, the first manifest request is answered 500 and the first blob
    request 503.  ``tamper``: ``"index"`` changes a byte of the index blob, ``"manifests"``
    a byte of every binary's manifest (keeping the digest the registry sends)."""

    def __init__(self, upstream: str, tamper: str = ""):
        import http.server
        import threading

        from support import free_port

        self.port = free_port()
        self.upstream, self.seen, self.busy_once, self.tamper = upstream, [], set(), tamper
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
                for part, code in (("/manifests/", 500), ("/blobs/", 503)):
                    if part in self.path and part not in gate.busy_once:
                        gate.busy_once.add(part)
                        return self._send(code, b"busy", {})
                path, _, query = self.path.partition("?")
                if path.endswith("/tags/list"):
                    tags = json.loads(_get(f"http://{gate.upstream}{path}"))["tags"]
                    start = int(dict(p.split("=") for p in query.split("&") if "=" in p).get("last", "0") or 0)
                    page = tags[start:start + 5]
                    headers = {"Content-Type": "application/json"}
                    if start + 5 < len(tags):
                        headers["Link"] = f'<{path}?n=5&last={start + 5}>; rel="next"'
                    return self._send(200, json.dumps({"name": "spack/unsigned", "tags": page}).encode(), headers)
                request = urllib.request.Request(f"http://{gate.upstream}{self.path}", headers={"Accept": self.headers.get("Accept", "")})
                with urllib.request.urlopen(request, timeout=60) as reply:
                    body, digest = reply.read(), reply.headers.get("Docker-Content-Digest", "")
                if (gate.tamper == "index" and "/blobs/" in self.path and b'"database"' in body) or (
                        gate.tamper == "manifests" and "/manifests/" in self.path and "index.spack" not in self.path):
                    body = body.replace(b"sha256:", b"sha256:0", 1)[:-1] if b"sha256:" in body else body + b" "
                return self._send(200, body, {"Content-Type": "application/json", **({"Docker-Content-Digest": digest} if digest else {})})

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
    assert manifests[0] == manifests[1]  # the 500 was asked again
    blobs = [p for p, auth in gate.seen if "/blobs/" in p and auth]
    assert blobs[0] == blobs[1]  # and the 503


@pytest.mark.parametrize("tamper", ["index", "manifests"])
def test_a_blob_or_manifest_that_does_not_hash_to_its_digest_is_reported(oci_registry, tmp_path, tamper):
    """Bytes changed on the way: the index blob no longer hashes to the digest
    ``index.spack`` names (the mirror is an error, nothing loaded from it), or each
    binary's manifest no longer hashes to the digest the registry sends with it (the
    binaries load, their sizes are unknown, and a warning says so)."""
    gate = _Gate(oci_registry, tamper=tamper)
    try:
        data = load(f"oci+http://127.0.0.1:{gate.port}/spack/unsigned", cache_dir=tmp_path, sizes=True)
    finally:
        gate.close()
    text = " ".join(data.problems["problem"])
    if tamper == "index":
        assert len(data.specs) == 0 and list(data.problems["severity"]) == ["error"] and "checksum mismatch" in text
    else:
        assert len(data.specs) == 16 and data.specs["size"].isna().all()
        assert list(data.problems["severity"]) == ["warning"] and "size unknown for 16 of 16" in text


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory):
    """The same registry behind HTTPS, with a certificate signed by a CA made here
    (trustme), and basic auth (a bcrypt htpasswd file: user ``spack``, password
    ``s3cret-pass``).  Yields ``(host:port, CA file)``."""
    import bcrypt
    import trustme

    from conftest import serve_registry

    root = tmp_path_factory.mktemp("tls-registry")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    cert.private_key_pem.write_to_path(str(root / "key.pem"))
    (root / "htpasswd").write_text("spack:" + bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(prefix=b"2a")).decode() + "\n")
    with serve_registry(root, tls=(str(root / "cert.pem"), str(root / "key.pem")), htpasswd=str(root / "htpasswd"), ca=str(root / "ca.pem")) as address:
        yield address, str(root / "ca.pem")


def _no_credentials(monkeypatch, tmp_path):
    for name in ("SPACK_CACHE_DASHBOARD_OCI_USERNAME", "SPACK_CACHE_DASHBOARD_OCI_PASSWORD", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker"))


def test_https_with_a_site_ca_and_basic_auth(tls_registry, tmp_path, monkeypatch):
    """Each way a site registry answers: an unknown CA, no credentials, wrong
    credentials (each an error naming what to do), then the CA in ``SSL_CERT_FILE``
    and the credentials from the environment, from Spack's ``mirrors.yaml``
    ``access_pair`` and from Docker's ``config.json``: the 16 binaries Spack lists.
    The password is never in a problem, the store or the dashboard's data."""
    import base64

    address, ca = tls_registry
    url = f"oci://{address}/spack/unsigned"
    _no_credentials(monkeypatch, tmp_path)

    def problem(**env) -> str:
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            data = load(url, cache=False)
        assert len(data.specs) == 0
        return " ".join(data.problems["problem"])

    assert "TLS certificate not trusted" in problem()
    assert "credentials needed" in problem(SSL_CERT_FILE=ca)
    assert "refused the credentials" in problem(SSL_CERT_FILE=ca, SPACK_CACHE_DASHBOARD_OCI_USERNAME="spack", SPACK_CACHE_DASHBOARD_OCI_PASSWORD="wrong")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    with monkeypatch.context() as m:
        m.setenv("SPACK_CACHE_DASHBOARD_OCI_USERNAME", "spack")
        m.setenv("SPACK_CACHE_DASHBOARD_OCI_PASSWORD", "s3cret-pass")
        assert len(load(url, cache=False).specs) == 16
    listing = tmp_path / "mirrors.yaml"
    listing.write_text(f"mirrors:\n  site:\n    url: {url}\n    access_pair:\n      id: spack\n      secret_variable: SITE_REGISTRY_TOKEN\n")
    monkeypatch.setenv("SITE_REGISTRY_TOKEN", "s3cret-pass")
    data = load(listing, cache_dir=tmp_path / "store", sizes=True)
    assert len(data.specs) == 16 and data.specs["size"].notna().all() and not len(data.problems)
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {address: {"auth": base64.b64encode(b"spack:s3cret-pass").decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    monkeypatch.delenv("SITE_REGISTRY_TOKEN")
    assert len(load(url, cache=False, sizes=True).specs) == 16
    stored = b"".join(f.read_bytes() for f in (tmp_path / "store").rglob("*") if f.is_file())
    assert stored and b"s3cret-pass" not in stored and base64.b64encode(b"spack:s3cret-pass") not in stored
    assert "s3cret" not in data.problems.to_string() + data.mirrors.to_string() + repr(data.report)


def test_a_registry_that_never_answers_is_a_timeout_named_in_the_problem(oci_registry, tmp_path, monkeypatch):
    """A registry that accepts the connection and never answers: the load ends after
    the read timeout (here 1 s) and its retries, the problem names the timeout and
    its setting, and the good registry beside it still loads."""
    stall = socket.socket()
    stall.bind(("127.0.0.1", 0))
    stall.listen(64)  # connections complete in the backlog; nothing is ever read or sent
    try:
        monkeypatch.setenv("SPACK_CACHE_DASHBOARD_TIMEOUT", "1")
        listing = tmp_path / "mirrors.yaml"
        listing.write_text(json.dumps({"t": {"good": f"oci+http://{oci_registry}/spack/unsigned",
                                             "stalled": f"oci+http://127.0.0.1:{stall.getsockname()[1]}/spack/unsigned"}}))
        data = load(listing, cache_dir=tmp_path / "store")
    finally:
        stall.close()
    assert len(data.specs) == 16
    text = " ".join(data.problems["problem"])
    assert list(data.problems["severity"]) == ["error"] and "no answer within the 1 s timeout" in text and "SPACK_CACHE_DASHBOARD_TIMEOUT" in text
