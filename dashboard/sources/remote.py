"""Read files of a mirror wherever it is: a local folder, ``file://``, ``http(s)://``
or ``s3://``, through fsspec (its http implementation uses aiohttp, s3 uses s3fs).

Every failure becomes a :class:`FetchError` naming the URL and one of a few
kinds a user can act on.  S3 uses the user's credentials when boto finds any
(environment, ``~/.aws``), else anonymous access; ``$AWS_ENDPOINT_URL`` points it
at an S3-compatible server.  No pandas, no Panel.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import fsspec

from dashboard.sources import limits

#: Bytes read per request when downloading with progress.
CHUNK_BYTES = 8 * 2**20
#: Requests in flight at once when reading many small files.
CONCURRENCY = 16
#: Largest file read, and largest small file (a manifest, a key) read by
#: :func:`read_many` (bytes): see :mod:`dashboard.sources.limits`.
MAX_BYTES, MAX_SMALL_BYTES = limits.MAX_INDEX_BYTES, limits.MAX_SMALL_BYTES


class FetchError(OSError):
    """A file of a mirror could not be read.

    Attributes:
        url: what was asked for.
        kind: ``"missing"`` (404 / no such file), ``"forbidden"`` (401/403),
            ``"unreachable"`` (no connection, DNS, timeout) or ``"error"``.
    """

    def __init__(self, url: str, kind: str, detail: str):
        super().__init__(f"{url}: {kind} ({detail})" if detail else f"{url}: {kind}")
        self.url, self.kind, self.detail = url, kind, detail


def is_url(text: str) -> bool:
    """``True`` for ``scheme://...`` (http, https, s3, file, ...)."""
    return "://" in text[:16]


def join(base: str, *parts: str) -> str:
    """``base`` and ``parts`` joined by ``/`` (a URL or a local path)."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def _options(url: str) -> dict:
    if url.startswith("s3://"):
        import botocore.session  # s3fs's own dependency

        options: dict = {}
        if botocore.session.Session().get_credentials() is None:
            options["anon"] = True
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
        return options
    if url.startswith(("http://", "https://")):  # a server that never answers must not hang the load
        import aiohttp

        timeout = aiohttp.ClientTimeout(sock_connect=limits.CONNECT_TIMEOUT_S, sock_read=limits.read_timeout(), total=limits.REQUEST_TOTAL_S)
        return {"client_kwargs": {"timeout": timeout}}
    return {}


def _fs(url: str):
    """``(filesystem, path)`` for ``url`` (instances are cached by fsspec)."""
    return fsspec.core.url_to_fs(url, **_options(url))


def _kind(exc: BaseException) -> str:
    """The :class:`FetchError` kind of an exception raised by fsspec/aiohttp/botocore."""
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    name = type(exc).__name__
    cause = exc.__cause__
    if isinstance(exc, FileNotFoundError) and cause is not None and cause is not exc:
        inner = _kind(cause)  # fsspec's HTTP reports any failure to learn a size as "not found"
        if inner in ("unreachable", "forbidden"):
            return inner
    if isinstance(exc, FileNotFoundError) or status == 404 or name == "NoSuchKey":
        return "missing"
    if isinstance(exc, PermissionError) or status in (401, 403):
        return "forbidden"
    if isinstance(exc, (ConnectionError, TimeoutError)) or any(
        word in name for word in ("Connect", "Timeout", "EndpointConnection", "ServerDisconnected")
    ):
        return "unreachable"
    text = str(exc).lower()
    if any(word in text for word in ("cannot connect", "connection refused", "name or service", "timed out")):
        return "unreachable"
    return "error"


def _detail(exc: BaseException) -> str:
    """What went wrong, in words: a timeout names its limit and setting, a redirect
    loop says so (aiohttp's texts for both are empty or bare numbers)."""
    chain = [e for e in (exc, exc.__cause__, exc.__context__) if e is not None]
    names = " ".join(type(e).__name__ for e in chain)
    if "Timeout" in names or any(isinstance(e, TimeoutError) for e in chain):
        return f"no answer within the {limits.read_timeout():g} s timeout (${limits.ENV_TIMEOUT})"
    if "TooManyRedirects" in names:
        return "too many redirects (a redirect loop?)"
    return str(exc).strip() or type(exc).__name__


def _error(url: str, exc: BaseException) -> FetchError:
    if isinstance(exc, FetchError):
        return exc
    return FetchError(url, _kind(exc), _detail(exc)[:200])


def read(url: str, progress: Callable[[int, int | None], None] | None = None, limit: int = MAX_BYTES) -> bytes:
    """All bytes of ``url``, never more than ``limit``; with ``progress``, read in
    :data:`CHUNK_BYTES` pieces, calling ``progress(bytes_read, total_or_None)`` after each.
    A local path must be a regular file (a FIFO or a device would block or never end).

    Raises:
        FetchError: the file cannot be read (see its ``kind``), is not a regular file,
            or holds more than ``limit`` bytes (kind ``"error"``).
    """
    try:
        fs, path = _fs(url)
        if "file" in fs.protocol:
            mode = os.stat(path).st_mode
            if not stat.S_ISREG(mode):
                raise FetchError(url, "error", "not a regular file")
        # HTTP: one streamed GET (fsspec's default asks the size first, a second request)
        streamed = {"block_size": 0, "size": -1} if "http" in fs.protocol else {"block_size": CHUNK_BYTES}
        with fs.open(path, "rb", **streamed) as handle:
            total = getattr(getattr(handle, "r", None), "content_length", None) if "http" in fs.protocol else getattr(handle, "size", None)
            parts, done = [], 0
            while chunk := handle.read(min(CHUNK_BYTES, limit + 1 - done)):
                parts.append(chunk)
                done += len(chunk)
                if done > limit:
                    raise FetchError(url, "error", f"larger than {limit:,} bytes")
                if progress is not None:
                    progress(done, total)
            return b"".join(parts)
    except Exception as exc:  # noqa: BLE001 - every failure is named with its URL
        raise _error(url, exc) from None


def stat_key(url: str) -> str:
    """A short text that changes when the file at ``url`` changes: size and mtime
    (local files, S3) or size and ETag (HTTP); ``""`` when the server gives only
    a size (then the caller must download to know).

    Raises:
        FetchError: the file cannot be reached.
    """
    try:
        fs, path = _fs(url)
        info = fs.info(path)
    except Exception as exc:  # noqa: BLE001
        raise _error(url, exc) from None
    stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("created")
    return f"{info.get('size')}:{stamp}" if stamp else ""


def read_many(urls: list[str], workers: int = CONCURRENCY) -> dict[str, bytes | FetchError]:
    """Read many small files, ``workers`` requests at a time (bounded: a small
    server's listen queue overflows with hundreds at once); a file that fails
    maps to its :class:`FetchError` instead of raising."""

    def one(url: str) -> bytes | FetchError:
        try:
            return read(url, limit=MAX_SMALL_BYTES)
        except FetchError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(urls)))) as pool:
        return dict(zip(urls, pool.map(one, urls)))
