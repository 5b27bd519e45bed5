"""The hostile-cache corpus (``tests/hostile_corpus.py``: more than 60 broken or hostile
mirrors, served over HTTP on 127.0.0.1), each loaded beside the cache Spack wrote: the
hostile one gives exactly its expected outcome (one problem row of the expected
severity, in words a user can act on) within the test-scale limits, and the 16
binaries Spack lists load every time."""

from __future__ import annotations

import json

import pytest

import hostile_corpus as hc
from dashboard.load import load

CORPUS = hc.cases()


@pytest.fixture(scope="module")
def corpus_server():
    server = hc.Server(CORPUS)
    yield server
    server.close()


def test_the_corpus_is_big_enough():
    assert len(CORPUS) >= 60 and len({c.name for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("n", range(len(CORPUS)), ids=[c.name for c in CORPUS])
def test_each_hostile_cache_gives_its_outcome_and_the_good_one_loads(corpus_server, tmp_path, monkeypatch, n):
    from dashboard.sources import mirror_fetch

    case = CORPUS[n]
    for key, value in hc.LIMITS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(mirror_fetch, "MAX_INDEX_BYTES", hc.TEST_MAX_INDEX_BYTES)
    url = corpus_server.url(n)
    listing = tmp_path / "mirrors.yaml"
    # the hostile one first: sizes it cannot give are not filled in from the good one
    listing.write_text(json.dumps({"t": {"hostile": url, "good": str(hc.SPACK)}}))
    good = load(hc.SPACK, cache=False)
    asked = len(corpus_server.requests)
    data = load(listing, cache_dir=tmp_path / "store", sizes=case.sizes)
    escaped = [path for path in corpus_server.requests[asked:] if not path.startswith(f"/{n}/") or "/../" in path]
    assert not escaped  # nothing outside the mirror was asked for
    assert set(good.specs["hash"]) <= set(data.specs["hash"])
    severity, text = hc.outcome(data, url)
    assert severity == case.expect, text
    assert case.words in text.lower(), text
    assert "Traceback" not in text
    others = data.problems[data.problems["path"].astype(str) != url]
    assert not len(others), others.to_dict("records")
