"""Shared fixtures: the real pages, an independent reference reader, the browser."""

from __future__ import annotations

import contextlib
import os
import time
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
REAL_PAGES = ROOT / "assets" / "pages"
sys.path.insert(0, str(ROOT))

from dashboard.config import STORE_ENV  # noqa: E402
from support import free_port, start_server  # noqa: E402


def pytest_configure(config):
    """With ``SCD_STRICT_WARNINGS=1`` (``SCD_DEPS=newest bash .ci/run``), a deprecation
    that a library reports against the project's own code fails the test: the warning is
    attributed to the calling module, so the filter names the ``dashboard`` package."""
    import os

    if os.environ.get("SCD_STRICT_WARNINGS") == "1":
        for category in ("DeprecationWarning", "FutureWarning", "PendingDeprecationWarning"):
            config.addinivalue_line("filterwarnings", f"error::{category}:dashboard")


def variant_tokens(text: str) -> str:
    """One spelling of a variant string, for comparing configurations: the pages' form
    (``~a +b k=a,b``, older pages) and Spack's (``~a+b k:='a,b'``) give the same tokens,
    unquoted, ``:=`` as ``=``, sorted."""
    import re

    tokens = re.sub(r"(?<=\S)([+~])", r" \1", str(text)).split()
    return " ".join(sorted(t.replace("'", "").replace(":=", "=") for t in tokens))


def reference_frame(pages_dir: Path = REAL_PAGES) -> pd.DataFrame:
    """Independent reading of every page with PyYAML (not the product's JSON fast
    path): one row per spec per stack, plain object columns."""
    rows = []
    for path in sorted(pages_dir.rglob("specs.md")):
        front = path.read_text().split("\n---", 1)[0].removeprefix("---\n")
        doc = yaml.safe_load(front)
        tag = doc["categories"][1]
        for spec in doc["spec_details"]:
            for stack in spec["stacks"]:
                rows.append(
                    {
                        "path": str(path),
                        "tag": tag,
                        "package": doc["title"],
                        "hash": spec["hash"],
                        "version": ", ".join(spec["versions"]),
                        "os": spec["os"],
                        "target": spec["target"],
                        "compiler": spec["compiler"].replace("@=", "@"),  # one spelling per compiler
                        "stack": stack,
                        "size": spec["size"] if isinstance(spec.get("size"), int) else None,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def reference() -> pd.DataFrame:
    return reference_frame()


@pytest.fixture(scope="session")
def real_data(tmp_path_factory):
    from dashboard.load import load

    return load(REAL_PAGES, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def pages_copy(tmp_path) -> Path:
    """A writable copy of the real pages."""
    dst = tmp_path / "pages"
    shutil.copytree(REAL_PAGES, dst)
    return dst


@pytest.fixture(scope="session")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    from support import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    out = ROOT / "test-artifacts"
    out.mkdir(exist_ok=True)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    strict = os.environ.get("SCD_STRICT_WARNINGS") == "1"
    # strict runs: the server reports each deprecation once (it runs the served-only code)
    proc = start_server(str(REAL_PAGES), port, env={STORE_ENV: str(tmp_path_factory.mktemp("cache")),
                                                     **({"PYTHONWARNINGS": "default"} if strict else {})})
    yield f"http://127.0.0.1:{port}/"
    proc.terminate()
    proc.wait(timeout=10)
    # no callback may have failed in the server during the module's tests (a page
    # closed while the server writes to it is Tornado's noise, not a failure)
    blocks = proc.log.read_text().split("Traceback (most recent call last):")[1:]
    failures = [b for b in blocks if "WebSocketClosedError" not in b and "StreamClosedError" not in b]
    assert not failures, failures[0][-3000:]
    if strict:  # a deprecation reported against the project's own code, served
        ours = [line for line in proc.log.read_text().splitlines() if "/dashboard/" in line and "Warning:" in line]
        assert not ours, ours


@pytest.fixture
def page(browser):
    from support import PATIENCE_MS

    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    context.set_default_timeout(PATIENCE_MS)
    pg = context.new_page()
    errors = []
    # SCD_ERROR_STACKS=1: each page error with its JavaScript stack (which script, which line)
    pg.on("pageerror", lambda e: errors.append(str(e) + (" | " + e.stack[:600] if os.environ.get("SCD_ERROR_STACKS") and e.stack else "")))
    pg.errors = errors
    yield pg
    context.close()


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory):
    """The OCI registry Spack pushed the spack-1.2 binaries to (``assets/oci/``: the CNCF
    distribution registry's storage, repos ``spack/unsigned`` and ``spack/signed``),
    served anonymously over plain HTTP on 127.0.0.1; yields ``host:port``."""
    with serve_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@contextlib.contextmanager
def serve_registry(root, tls: tuple[str, str] | None = None, htpasswd: str | None = None, ca: str | None = None):
    """Serve the storage of ``assets/oci/`` from ``root`` with Debian's ``docker-registry``
    (CNCF distribution 2.8) on 127.0.0.1: over HTTPS with ``tls`` = ``(cert file, key
    file)`` (``ca``: the CA file that signed it, to wait on it), with basic auth when
    ``htpasswd`` names a bcrypt htpasswd file.  Yields ``host:port``."""
    import shutil
    import ssl
    import subprocess
    import tarfile
    import urllib.error
    import urllib.request
    from support import PATIENCE, free_port

    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is missing: apt-get install docker-registry (see .ci/run)")
    with tarfile.open(ROOT / "assets" / "oci" / "oci-registry-storage.tar.gz") as tar:
        tar.extractall(root, filter="data")
    port = free_port()
    config = (ROOT / "assets" / "oci" / "config.yml").read_text()
    if tls:
        config = config.replace("  addr: 127.0.0.1:5000\n", f"  addr: 127.0.0.1:5000\n  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n")
    if htpasswd:
        config += f"auth:\n  htpasswd:\n    realm: test-registry\n    path: {htpasswd}\n"
    (root / "config.yml").write_text(config)
    log = open(root / "registry.log", "w")
    env = {**os.environ, "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(root / "storage"), "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}"}
    proc = subprocess.Popen([binary, "serve", str(root / "config.yml")], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    context = ssl.create_default_context(cafile=ca) if tls else None
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/v2/"
    deadline = time.monotonic() + PATIENCE
    try:
        while True:  # any HTTP answer (401 included) means it is serving
            try:
                urllib.request.urlopen(url, timeout=5, context=context).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the registry did not start: {(root / 'registry.log').read_text()[-2000:]}")
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
