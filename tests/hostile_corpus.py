"""A corpus of hostile and broken build caches, served over HTTP on 127.0.0.1.

Every case is the cache Spack wrote (``assets/mirrors/spack-1.2/spack-1.2-v3-unsigned``,
or the real v2 index ``assets/mirrors/v2-db8``) with one thing changed: a file's bytes,
an HTTP answer (status, headers, a redirect loop, a gzip ``Content-Encoding`` bomb), or
its timing (an answer that never comes, or comes at one byte a second).  Each case
names its expected outcome: the severity of the one problem row it must give
(``error``: nothing loads from it; ``warning``: it loads, with a warning), and words
that row must hold.  Used by ``tests/test_hostile_corpus.py`` and
``benchmarks/hostile.py`` (the table of outcomes, RSS peaks and seconds).

Test-scale limits (:data:`LIMITS`) make each bound bite within a second: the index
bound at 16 MiB and a 2 s read timeout with a 5 s deadline per mirror.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SPACK = ROOT / "assets" / "mirrors" / "spack-1.2" / "spack-1.2-v3-unsigned"
V2 = ROOT / "assets" / "mirrors" / "v2-db8"
INDEX_MANIFEST = "v3/manifests/index/index.manifest.json"
#: Environment for a load of the corpus: read timeout and deadline at test scale (seconds).
LIMITS = {"SPACK_CACHE_DASHBOARD_TIMEOUT": "2", "SPACK_CACHE_DASHBOARD_DEADLINE": "5"}
#: The index bound at test scale (bytes): set on ``mirror_fetch.MAX_INDEX_BYTES``.
TEST_MAX_INDEX_BYTES = 16 * 2**20


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _index_checksum() -> str:
    return json.loads((SPACK / INDEX_MANIFEST).read_text())["data"][0]["checksum"]


def _index_blob_path(checksum: str) -> str:
    return f"blobs/sha256/{checksum[:2]}/{checksum}"


@dataclass
class Case:
    """One hostile cache: ``files`` (path -> bytes) served as they are, ``answers``
    (path -> a function writing the whole HTTP answer) where the server misbehaves;
    ``expect``: the severity of its one problem row, ``words``: what that row must
    say (lower case); ``sizes``: load with ``sizes=True``."""

    name: str
    files: dict[str, bytes]
    expect: str
    words: str
    answers: dict[str, Callable] = field(default_factory=dict)
    sizes: bool = False


def _with_index(blob: bytes, **entry) -> dict[str, bytes]:
    """The Spack cache with its index replaced by ``blob`` (stored under its sha256)."""
    files = _files(SPACK)
    digest = hashlib.sha256(blob).hexdigest()
    files[_index_blob_path(digest)] = blob
    manifest = json.loads(files[INDEX_MANIFEST])
    manifest["data"][0].update({"checksum": digest, "contentLength": len(blob), **entry})
    files[INDEX_MANIFEST] = json.dumps(manifest).encode()
    return files


def _with_manifest(edit: Callable[[dict], object]) -> dict[str, bytes]:
    files = _files(SPACK)
    manifest = json.loads(files[INDEX_MANIFEST])
    result = edit(manifest)
    files[INDEX_MANIFEST] = result if isinstance(result, bytes) else json.dumps(manifest).encode()
    return files


def _database(edit: Callable[[dict], object]) -> bytes:
    db = json.loads((SPACK / _index_blob_path(_index_checksum())).read_bytes())
    result = edit(db)
    return result if isinstance(result, bytes) else json.dumps(db).encode()


def _status(code: int, headers: dict | None = None) -> Callable:
    def answer(handler):
        handler.send_response(code)
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return answer


def _redirect_loop(handler):
    handler.send_response(302)
    handler.send_header("Location", handler.path)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def _silence(handler):
    handler.server.stop.wait(60)  # never answers (until the server stops)


def _close(handler):
    handler.close_connection = True  # closes without a byte


def _slow_headers(handler):
    for byte in b"HTTP/1.1 200 OK\r\n":
        if handler.server.stop.wait(1):
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()


def _slow_body(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(100000):
        if handler.server.stop.wait(1):
            return
        handler.wfile.write(b" ")
        handler.wfile.flush()


def _endless(handler):
    handler.send_response(200)
    handler.end_headers()  # no length: the body ends when the connection does
    chunk = b" " * 2**20
    try:
        for _ in range(100_000):
            if handler.server.stop.is_set():
                return
            handler.wfile.write(chunk)
    except OSError:
        pass


def _short_body(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b'{"version": 3, "data": [')
    handler.close_connection = True


def _gzip_bomb(handler):
    body = gzip.compress(b" " * (64 * 2**20), 9)
    handler.send_response(200)
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def cases() -> list[Case]:
    """The corpus (more than 60 cases)."""
    index = _index_checksum()
    raw = (SPACK / _index_blob_path(index)).read_bytes()
    v2 = {"build_cache/index.json": (V2 / "build_cache" / "index.json").read_bytes()}
    spec_manifests = [p for p in _files(SPACK) if p.startswith("v3/manifests/spec/")]
    out = [
        # the index manifest
        Case("no index manifest (404)", {k: v for k, v in _files(SPACK).items() if k != INDEX_MANIFEST}, "error", "not a build cache"),
        Case("index manifest not JSON", _with_manifest(lambda m: b"<html>not json</html>"), "error", "json"),
        Case("index manifest is a JSON list", _with_manifest(lambda m: b"[1, 2]"), "error", "manifest"),
        Case("index manifest nested 100,000 deep", _with_manifest(lambda m: b'{"data": ' + b"[" * 100_000), "error", "manifest"),
        Case("index manifest with no entries", _with_manifest(lambda m: m.update(data=[])), "error", "index"),
        Case("index manifest data not a list", _with_manifest(lambda m: m.update(data="x")), "error", "manifest"),
        Case("index checksum escaping the mirror", _with_manifest(lambda m: m["data"][0].update(checksum="../../../../secret")), "error", "not a sha256"),
        Case("index checksum in upper case", _with_manifest(lambda m: m["data"][0].update(checksum=index.upper())), "error", "not a sha256"),
        Case("index checksum of 63 characters", _with_manifest(lambda m: m["data"][0].update(checksum=index[:63])), "error", "not a sha256"),
        Case("index checksum a number", _with_manifest(lambda m: m["data"][0].update(checksum=12)), "error", "not a sha256"),
        Case("index entry a string", _with_manifest(lambda m: m.update(data=["x"])), "error", "manifest"),
        Case("contentLength negative", _with_manifest(lambda m: m["data"][0].update(contentLength=-5)), "ok", ""),
        Case("contentLength smaller than the blob", _with_manifest(lambda m: m["data"][0].update(contentLength=100)), "error", "larger than"),
        Case("contentLength of 1 TiB", _with_manifest(lambda m: m["data"][0].update(contentLength=2**40)), "ok", ""),
        Case("compression unknown", _with_manifest(lambda m: m["data"][0].update(compression="zstd")), "ok", ""),
        # the index blob
        Case("index blob missing (404)", {k: v for k, v in _files(SPACK).items() if not k.endswith(index)}, "error", "missing"),
        Case("index blob changed (checksum mismatch)", {**_files(SPACK), _index_blob_path(index): raw.replace(b"plib", b"plid", 1)}, "error", "checksum mismatch"),
        Case("index blob marked gzip, not gzip", _with_index(raw, compression="gzip"), "error", "not gzip"),
        Case("index blob truncated gzip", _with_index(gzip.compress(raw)[:-40], compression="gzip"), "error", "truncated"),
        Case("index blob gzip bomb", _with_index(gzip.compress(b" " * (64 * 2**20), 9), compression="gzip"), "error", "more than"),
        Case("index blob truncated JSON", _with_index(raw[: len(raw) // 2]), "error", "index"),
        Case("index blob binary garbage", _with_index(bytes(range(256)) * 64), "error", "index"),
        Case("index blob empty", _with_index(b""), "error", "index"),
        Case("index blob JSON null", _with_index(b"null"), "error", "index"),
        Case("index blob nested 100,000 deep", _with_index(b"[" * 100_000), "error", "index"),
        Case("index blob record nested 100,000 deep", _with_index(_database(lambda db: json.dumps(db).replace('"installs": {', '"installs": {"deep": ' + "[" * 100_000 + "]" * 100_000 + ",", 1).encode())), "error", "index"),
        Case("database version 99", _with_index(_database(lambda db: db["database"].update(version="99"))), "error", "version"),
        Case("database not an object", _with_index(_database(lambda db: db.update(database=[1]))), "error", "index"),
        Case("installs a list", _with_index(_database(lambda db: db["database"].update(installs=[]))), "error", "index"),
        Case("a record whose spec is a number", _with_index(_database(lambda db: next(iter(db["database"]["installs"].values())).update(spec=5))), "warning", "skipped"),
        Case("a record with a lone surrogate", _with_index(_database(lambda db: json.dumps(db).replace('"name": "plib"', '"name": "pl\\ud800ib"', 1).encode())), "warning", "surrogate"),
        Case("index over the size bound", _with_index(raw[:-1] + b" " * TEST_MAX_INDEX_BYTES + raw[-1:]), "error", "larger than"),
        # HTTP answers for the index manifest
        Case("manifest answered 500", _files(SPACK), "error", "500", {INDEX_MANIFEST: _status(500)}),
        Case("manifest answered 503 with Retry-After", _files(SPACK), "error", "503", {INDEX_MANIFEST: _status(503, {"Retry-After": "1"})}),
        Case("manifest answered 403", _files(SPACK), "error", "forbidden", {INDEX_MANIFEST: _status(403)}),
        Case("manifest answered 401", _files(SPACK), "error", "forbidden", {INDEX_MANIFEST: _status(401)}),
        Case("manifest answered 418", _files(SPACK), "error", "418", {INDEX_MANIFEST: _status(418)}),
        Case("manifest in a redirect loop", _files(SPACK), "error", "redirect", {INDEX_MANIFEST: _redirect_loop}),
        Case("manifest never answered", _files(SPACK), "error", "timeout", {INDEX_MANIFEST: _silence}),
        Case("manifest headers at 1 byte a second", _files(SPACK), "error", "deadline", {INDEX_MANIFEST: _slow_headers}),
        Case("manifest body at 1 byte a second", _files(SPACK), "error", "deadline", {INDEX_MANIFEST: _slow_body}),
        Case("manifest connection closed at once", _files(SPACK), "error", "", {INDEX_MANIFEST: _close}),
        Case("manifest body shorter than its length", _files(SPACK), "error", "", {INDEX_MANIFEST: _short_body}),
        Case("manifest endless body", _files(SPACK), "error", "larger than", {INDEX_MANIFEST: _endless}),
        Case("manifest a gzip bomb on the wire", _files(SPACK), "error", "", {INDEX_MANIFEST: _gzip_bomb}),
        # HTTP answers for the index blob
        Case("index blob answered 500", _files(SPACK), "error", "500", {_index_blob_path(index): _status(500)}),
        Case("index blob never answered", _files(SPACK), "error", "timeout", {_index_blob_path(index): _silence}),
        Case("index blob at 1 byte a second", _files(SPACK), "error", "deadline", {_index_blob_path(index): _slow_body}),
        Case("index blob endless", _files(SPACK), "error", "", {_index_blob_path(index): _endless}),
        Case("index blob a gzip bomb on the wire", _files(SPACK), "error", "", {_index_blob_path(index): _gzip_bomb}),
        # v2 layout (Spack 0.x)
        Case("v2 index", v2, "ok", ""),
        Case("v2 index.json.hash that does not match", {**v2, "build_cache/index.json.hash": b"0" * 64}, "error", "checksum mismatch"),
        Case("v2 index not JSON", {"build_cache/index.json": b"<html>"}, "error", "index"),
        Case("v2 index nested 100,000 deep", {"build_cache/index.json": b"[" * 100_000}, "error", "index"),
        Case("v2 index with a lone surrogate", {"build_cache/index.json": v2["build_cache/index.json"].replace(b'"name":"', b'"name":"\\udc80', 1)}, "warning", "surrogate"),
        Case("v2 index database version 99", {"build_cache/index.json": v2["build_cache/index.json"].replace(b'"version":"8"', b'"version":"99"', 1)}, "error", "version"),
        Case("v2 index a gzip bomb on the wire", v2, "error", "", {"build_cache/index.json": _gzip_bomb}),
        Case("v2 index never answered", v2, "error", "timeout", {"build_cache/index.json": _silence}),
        Case("v2 index endless", v2, "error", "", {"build_cache/index.json": _endless}),
        Case("v2 index over the size bound", {"build_cache/index.json": v2["build_cache/index.json"][:-1] + b" " * TEST_MAX_INDEX_BYTES + b"}"}, "error", "larger than"),
        Case("neither layout (an empty mirror)", {"README": b"nothing here"}, "error", "not a build cache"),
        # spec manifests, read for sizes: the binaries load, their sizes are unknown and a warning says so
        Case("spec manifests missing", {k: v for k, v in _files(SPACK).items() if k not in spec_manifests}, "warning", "size unknown", sizes=True),
        Case("spec manifests not JSON", {**_files(SPACK), **{k: b"<html>" for k in spec_manifests}}, "warning", "size unknown", sizes=True),
        Case("spec manifests nested 100,000 deep", {**_files(SPACK), **{k: b"[" * 100_000 for k in spec_manifests}}, "warning", "size unknown", sizes=True),
        Case("spec manifests endless", _files(SPACK), "warning", "size unknown", {k: _endless for k in spec_manifests[:2]}, sizes=True),
        Case("a record named ../../../../secret", _with_index(_database(lambda db: json.dumps(db).replace('"name": "ptool"', '"name": "../../../../secret"').encode())),
             "warning", "size unknown", sizes=True),
        Case("a record whose version climbs out", _with_index(_database(lambda db: json.dumps(db).replace('"version": "0.4"', '"version": "../../../../../secret"').encode())),
             "warning", "size unknown", sizes=True),
        Case("spec manifests answered 500", _files(SPACK), "warning", "size unknown", {k: _status(500) for k in spec_manifests}, sizes=True),
    ]
    return out


class Server:
    """Serve :func:`cases` at ``http://127.0.0.1:PORT/<n>/`` (``n``: the case's position)."""

    def __init__(self, corpus: list[Case]):
        self.corpus = corpus
        #: Every path asked for, in order (a path outside a case's folder is an escape).
        self.requests: list[str] = []
        corpus_, outer = corpus, self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, head: bool):
                outer.requests.append(self.path)
                parts = self.path.split("?", 1)[0].lstrip("/").split("/", 1)
                try:
                    case = corpus_[int(parts[0])]
                except (ValueError, IndexError):
                    return _status(404)(self)
                rest = parts[1] if len(parts) > 1 else ""
                if rest in case.answers:
                    return case.answers[rest](self)
                body = case.files.get(rest)
                if body is None:
                    return _status(404)(self)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
                self.end_headers()
                if not head:
                    try:
                        self.wfile.write(body)
                    except OSError:
                        pass

            def do_GET(self):
                self._answer(False)

            def do_HEAD(self):
                self._answer(True)

        class Quiet(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client gone mid-answer (a deadline, a bound) is what the corpus is for

        self.server = Quiet(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.stop = threading.Event()
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.port}/{n}"

    def close(self) -> None:
        self.server.stop.set()
        self.server.shutdown()
        self.server.server_close()


def outcome(data, url: str) -> tuple[str, str]:
    """``(severity, text)`` of the problems naming ``url`` (``("ok", "")`` when none)."""
    rows = data.problems[data.problems["path"].astype(str) == url]
    if not len(rows):
        return "ok", ""
    severity = "error" if (rows["severity"] == "error").any() else "warning"
    return severity, " | ".join(rows["problem"].astype(str))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t
