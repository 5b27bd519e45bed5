"""Every bound on what reading a build cache may cost, in one place.

A mirror, registry or page tree may be hostile or broken: each read here is bounded
in bytes, time and retries, and a limit hit is one ``error`` problem row naming the
source and the limit, never a hang, a crash or the loss of other sources.  The
table of limits, with how to change the settable ones, is in ``docs/limits.md``.

Settable from the environment (read at each use, so a running notebook can change
them): ``SPACK_CACHE_DASHBOARD_TIMEOUT`` (seconds between bytes of an answer) and
``SPACK_CACHE_DASHBOARD_DEADLINE`` (seconds for one whole source).  No pandas, no Panel.
"""

from __future__ import annotations

import os

#: Largest cache.spack.io page parsed (bytes): bounded time and memory per page.
MAX_PAGE_BYTES = 64 * 2**20
#: Deepest nesting (brackets or block levels) of a page's front matter, refused
#: before parsing; real pages nest 4 deep.
MAX_PAGE_DEPTH = 64
#: Largest index read or decompressed (bytes): a 1M-binary index is ~1.5 GB of JSON.
MAX_INDEX_BYTES = 4 * 2**30
#: Largest small file (a manifest, a key, a mirror list) read (bytes).
MAX_SMALL_BYTES = 16 * 2**20
#: Largest OCI image manifest or tag-list page read (bytes): they are a few kB.
MAX_MANIFEST_BYTES = 4 * 2**20
#: JSON nesting: deeper than the parsers accept (msgspec's and Python's ~1,000
#: levels) makes that index, manifest or mirror list a problem row.
#: Seconds to wait for a connection.
CONNECT_TIMEOUT_S = 15.0
#: Seconds to wait between bytes of an answer (``SPACK_CACHE_DASHBOARD_TIMEOUT``).
READ_TIMEOUT_S = 60.0
#: Seconds for one whole HTTP request (fsspec/aiohttp reads).
REQUEST_TOTAL_S = 600.0
#: Seconds for one whole source (a mirror's check, index download and parse;
#: ``SPACK_CACHE_DASHBOARD_DEADLINE``).  A source still loading then is a problem row.
DEADLINE_S = 600.0
#: Retries of a request answered 429/5xx, or not answered, with exponential
#: backoff (0.5 s, 1 s, 2 s, ...; a ``Retry-After`` answer is honoured).
RETRIES = 4
BACKOFF_S = 0.5
#: Pages of an OCI tag list followed (``Link: rel="next"``), 1,000 tags a page.
MAX_TAG_PAGES = 10_000

ENV_TIMEOUT = "SPACK_CACHE_DASHBOARD_TIMEOUT"
ENV_DEADLINE = "SPACK_CACHE_DASHBOARD_DEADLINE"


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if 0 < value < 1e7 else default


def read_timeout() -> float:
    """Seconds between bytes of an answer: ``$SPACK_CACHE_DASHBOARD_TIMEOUT``, else
    :data:`READ_TIMEOUT_S` (a value that is not a positive number is ignored)."""
    return _seconds(ENV_TIMEOUT, READ_TIMEOUT_S)


def deadline() -> float:
    """Seconds for one whole source: ``$SPACK_CACHE_DASHBOARD_DEADLINE``, else :data:`DEADLINE_S`."""
    return _seconds(ENV_DEADLINE, DEADLINE_S)


def timeouts() -> tuple[float, float]:
    """``(connect, read)`` seconds for one request, as ``requests`` takes them."""
    read = read_timeout()
    return (min(CONNECT_TIMEOUT_S, read), read)
