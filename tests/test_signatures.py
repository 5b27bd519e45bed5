"""Signatures of the cache Spack signed, checked by the dashboard and by GnuPG (as Spack
checks them): a good manifest is verified, a changed byte is a bad signature, a key
nobody publishes is unknown, an unsigned cache is unsigned."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from dashboard.load import load
from dashboard.domain.verify import verify_cache

SPACK = ROOT / "assets" / "mirrors" / "spack-1.2"
KEY = SPACK / "peer-test-key.pub"
FINGERPRINT = "ae8ee6a88e9d37e38d5cca94fe2906cc338fcc85"


def gpg_verifies(homedir, path) -> bool:
    """GnuPG's word on one clear-signed file (the oracle)."""
    return subprocess.run(["gpg", "--homedir", str(homedir), "--batch", "--verify", str(path)], capture_output=True, timeout=60).returncode == 0


@pytest.fixture
def gnupg(tmp_path):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--import", str(KEY)], capture_output=True, check=True, timeout=60)
    yield home
    # gpg started an agent for this home: stop it (it would outlive the tests)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, timeout=60)


@pytest.fixture
def tampered(tmp_path):
    """A copy of the signed cache with one byte changed in one spec manifest."""
    copy = tmp_path / "signed"
    shutil.copytree(SPACK / "spack-1.2-v3-signed", copy)
    manifest = sorted((copy / "v3" / "manifests" / "spec").rglob("*.spec.manifest.json"))[0]
    text = manifest.read_bytes()
    at = text.index(b'"contentLength":') + len(b'"contentLength":')
    manifest.write_bytes(text[:at] + bytes([text[at] ^ 1]) + text[at + 1:])  # one digit changed
    return copy, manifest


def _by_hash(rows):
    return dict(zip(rows["hash"], rows["signature"]))


def test_the_signed_cache_verifies_as_gnupg_says(tmp_path, gnupg):
    data = load(SPACK / "spack-1.2-v3-signed", cache_dir=tmp_path / "store")
    rows, problems = verify_cache(data)
    assert not problems and len(rows) == 16
    manifests = sorted((SPACK / "spack-1.2-v3-signed" / "v3" / "manifests" / "spec").rglob("*.spec.manifest.json"))
    assert len(manifests) == 16 and all(gpg_verifies(gnupg, m) for m in manifests)
    assert set(rows["signature"]) == {"verified (mirror key)"} and set(rows["signer"]) == {FINGERPRINT}
    # the user's own trusted key makes it "verified"
    trusted, _ = verify_cache(data, {FINGERPRINT: __import__("pysequoia").Cert.from_bytes(KEY.read_bytes())})
    assert set(trusted["signature"]) == {"verified"}


def test_a_changed_byte_is_a_bad_signature_and_the_others_stay_verified(tmp_path, gnupg, tampered):
    copy, manifest = tampered
    assert not gpg_verifies(gnupg, manifest)
    rows, _ = verify_cache(load(copy, cache_dir=tmp_path / "store"))
    digest = manifest.name.removesuffix(".spec.manifest.json").rsplit("-", 1)[1]
    status = _by_hash(rows)
    assert status.pop(digest) == "bad signature"
    assert set(status.values()) == {"verified (mirror key)"} and len(status) == 15


def test_a_key_the_mirror_does_not_publish_is_unknown(tmp_path):
    copy = tmp_path / "signed"
    shutil.copytree(SPACK / "spack-1.2-v3-signed", copy)
    shutil.rmtree(copy / "v3" / "manifests" / "key")
    rows, _ = verify_cache(load(copy, cache_dir=tmp_path / "store"))
    assert set(rows["signature"]) == {"unknown key"} and len(rows) == 16


def test_the_unsigned_cache_is_unsigned(tmp_path):
    rows, _ = verify_cache(load(SPACK / "spack-1.2-v3-unsigned", cache_dir=tmp_path / "store"))
    assert set(rows["signature"]) == {"unsigned"} and len(rows) == 16


def _cli(*args, tmp_path):
    env = {**__import__("os").environ, "SPACK_CACHE_DASHBOARD_CACHE": str(tmp_path / "c")}
    env.pop("SPACK_GNUPGHOME", None)
    return subprocess.run([sys.executable, "-m", "dashboard.cli", "verify", *args], capture_output=True, text=True, env=env, timeout=300)


def test_verify_command_exit_codes_for_audits(tmp_path, tampered):
    good = _cli("--data", str(SPACK / "spack-1.2-v3-signed"), tmp_path=tmp_path)
    assert good.returncode == 0 and "16 signed: 16 verified by AE8EE6A8…, key only from the mirror" in good.stdout
    strict = _cli("--data", str(SPACK / "spack-1.2-v3-signed"), "--require-trusted", tmp_path=tmp_path)
    assert strict.returncode == 1
    trusted = _cli("--data", str(SPACK / "spack-1.2-v3-signed"), "--trusted-keys", str(SPACK), "--require-trusted", tmp_path=tmp_path)
    assert trusted.returncode == 0 and "trusted here" in trusted.stdout
    bad = _cli("--data", str(tampered[0]), tmp_path=tmp_path)
    assert bad.returncode == 1 and "1 bad signature" in bad.stdout and "Traceback" not in bad.stderr
    unsigned = _cli("--data", str(SPACK / "spack-1.2-v3-unsigned"), tmp_path=tmp_path)
    assert unsigned.returncode == 1 and "16 unsigned" in unsigned.stdout
    pages = _cli("--data", str(ROOT / "assets" / "pages"), tmp_path=tmp_path)
    assert pages.returncode == 2 and "no mirror" in pages.stderr
    wrong_key = tmp_path / "keys"
    wrong_key.mkdir()
    (wrong_key / "x.pub").write_text("not a key")
    refused = _cli("--data", str(SPACK / "spack-1.2-v3-signed"), "--trusted-keys", str(wrong_key), tmp_path=tmp_path)
    assert refused.returncode == 2 and "x.pub" in refused.stderr and "Traceback" not in refused.stderr


def test_the_dashboard_shows_each_binarys_signature_worst_first(tmp_path, tampered):
    """``--verify`` puts GnuPG's verdict (the tests above) into the specs: the tampered
    binary reads 'bad signature' in its column, its row detail and the headline (red),
    the other 15 'verified (mirror key)' with the key's fingerprint; pages get no column."""
    from dashboard.app import CacheDashboard
    from dashboard.domain.verify import with_signatures

    copy, manifest = tampered
    digest = manifest.name.removesuffix(".spec.manifest.json").rsplit("-", 1)[1]
    data = with_signatures(load(copy, cache_dir=tmp_path / "store"))
    status = _by_hash(data.specs)
    assert status.pop(digest) == "bad signature"
    assert set(status.values()) == {"verified (mirror key)"}
    assert set(data.specs.loc[data.specs["hash"] != digest, "signer"]) == {FINGERPRINT}
    dash = CacheDashboard(data)
    table = dash.specs.table.value
    assert "signature" in table.columns and (table["signature"] == "bad signature").sum() == 1
    line = dash.headline.signatures.object
    assert "15 verified by AE8EE6A8…" in line and "1 bad signature" in line and "#b02a37" in line
    # the selection narrows the line: only the good binaries of another package
    other = str(data.specs.loc[data.specs["hash"] != digest, "package"].iloc[0])
    if other != str(data.specs.loc[data.specs["hash"] == digest, "package"].iloc[0]):
        dash.state.package = other
        assert "bad" not in dash.headline.signatures.object
    row = data.specs[data.specs["hash"] == digest].iloc[0]
    from dashboard.ui.components import detail_for

    detail = detail_for(dash.state)(row[table.columns])
    assert "bad signature" in detail.object and "#b02a37" in detail.object
    pages = with_signatures(load(ROOT / "assets" / "pages", cache_dir=tmp_path / "pages"))
    assert "signature" not in pages.specs.columns
    assert not CacheDashboard(pages).headline.signatures.visible


def test_a_binary_in_two_mirrors_shows_the_worse_signature(tmp_path, tampered):
    """The same binary read from the signed cache and from its tampered copy (two mirrors
    of one tag) is 'bad signature': a good copy elsewhere never hides a changed one."""
    from dashboard.domain.verify import with_signatures

    copy, manifest = tampered
    digest = manifest.name.removesuffix(".spec.manifest.json").rsplit("-", 1)[1]
    mirrors = tmp_path / "mirrors.yaml"
    mirrors.write_text(f"snapshot:\n  good: {SPACK / 'spack-1.2-v3-signed'}\n  changed: {copy}\n")
    data = load(mirrors, cache_dir=tmp_path / "store")
    rows, _ = verify_cache(data)
    assert (rows["hash"] == digest).sum() == 2 and set(rows.loc[rows["hash"] == digest, "signature"]) == {"bad signature", "verified (mirror key)"}
    specs = with_signatures(data).specs
    assert len(specs) == 16 and set(specs["stacks"]) == {"changed, good"}  # one row per binary, in both stacks
    assert _by_hash(specs)[digest] == "bad signature"


def test_served_with_verify_the_tampered_binary_is_red_and_found_by_its_column(tmp_path, tampered, browser):
    """``serve --verify`` on the tampered copy, as a user sees it: the headline line names
    the bad signature, the signature column's filter 'bad' leaves that one binary, and
    its row detail says so in red."""
    from support import PATIENCE_MS, expand_row, free_port, start_server, table_rows, wait_value

    copy, manifest = tampered
    digest = manifest.name.removesuffix(".spec.manifest.json").rsplit("-", 1)[1]
    port = free_port()
    proc = start_server(str(copy), port, env={"SPACK_CACHE_DASHBOARD_CACHE": str(tmp_path / "c")}, extra_args=["--verify"])
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector(".tabulator-row", timeout=PATIENCE_MS)
        line = page.locator(".signature-line")
        wait_value(page, lambda p: "1 bad signature" in line.evaluate("e => (e.shadowRoot || e).textContent"), True)
        assert "15 verified by AE8EE6A8…, key only from the mirror" in line.evaluate("e => (e.shadowRoot || e).textContent")
        box = page.locator(".tabulator-col[tabulator-field='signature'] input")
        box.click()
        box.type("bad", delay=40)
        wait_value(page, table_rows, 1)
        assert page.locator("div.tabulator-row div.tabulator-cell[tabulator-field='hash']").first.inner_text().strip()[:6] == digest[:6]
        detail = expand_row(page, ".spec-signature")
        assert "bad signature" in detail.inner_text()
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
