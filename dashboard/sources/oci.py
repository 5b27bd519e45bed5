"""Spack build caches in OCI registries (``spack mirror add NAME oci://host/repo``).

Spack pushes a build cache to a registry repository as image tags (Spack's
``lib/spack/spack/oci/``; facts checked against a registry Spack pushed to, see
``assets/oci/README.md``):

* ``index.spack``: an image manifest whose single layer is the build-cache index,
  plain JSON database v8 (whatever the layer's media type says), named by its sha256
  digest: the digest is the index's identity, so an unchanged index costs one small
  manifest request;
* one tag per binary, ``<name>-<version>-<dag hash>.spack``: its layers are one
  tarball per link/run dependency with the binary's own tarball last, whose ``size``
  is the binary's size in bytes (no tarball is downloaded).

``oci://host/repo`` is HTTPS, ``oci+http://host/repo`` plain HTTP (as Spack spells it).

HTTP is ``requests`` with ``urllib3``'s ``Retry`` (bounded retries with exponential
backoff on 429 and 5xx, honouring ``Retry-After``) and a timeout on every request;
``requests`` honours ``REQUESTS_CA_BUNDLE``, and ``SSL_CERT_FILE`` is passed as the CA
bundle when set.  Auth: anonymous first; on ``401`` with ``WWW-Authenticate: Bearer
realm=...,service=...,scope=...`` a token is asked of the realm (with credentials when
known, else anonymously) and the request is retried with it; ``Basic`` challenges get
the credentials directly.  Credentials come from ``$SPACK_CACHE_DASHBOARD_OCI_USERNAME``
and ``$SPACK_CACHE_DASHBOARD_OCI_PASSWORD``, else Docker's ``config.json``
(``$DOCKER_CONFIG`` or ``~/.docker``, the host's ``auth`` entry); they are never
printed, logged or stored.  (oras-py does the same protocol, but offers no timeout or
retry setting and brings jsonschema; the distribution API used here is five calls.)
No pandas, no Panel.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from .remote import FetchError

#: Seconds to wait for a connection and between bytes of an answer.
TIMEOUT_S = (10, 60)
#: Retries of a request answered 429/5xx or not answered, with exponential backoff.
RETRIES = 4
#: Largest manifest read (bytes): manifests are a few kB.
MAX_MANIFEST_BYTES = 4 * 2**20
#: Largest index blob read (bytes).
MAX_INDEX_BYTES = 4 * 2**30
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
INDEX_TAG = "index.spack"
ENV_USER, ENV_PASSWORD = "SPACK_CACHE_DASHBOARD_OCI_USERNAME", "SPACK_CACHE_DASHBOARD_OCI_PASSWORD"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_oci(url: str) -> bool:
    """``True`` for ``oci://...`` and ``oci+http://...``."""
    return url.startswith(("oci://", "oci+http://"))


def split(url: str) -> tuple[str, str]:
    """``(base, repository)``: ``oci://ghcr.io/org/cache`` -> ``("https://ghcr.io", "org/cache")``.

    Raises:
        FetchError: not an ``oci://`` / ``oci+http://`` URL with a host and a repository.
    """
    scheme = "http" if url.startswith("oci+http://") else "https"
    rest = url.split("://", 1)[1].strip("/")
    host, _, repo = rest.partition("/")
    if not host or not repo or not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", repo):
        raise FetchError(url, "error", "expected oci://HOST/REPOSITORY (lower-case repository)")
    return f"{scheme}://{host}", repo


def _credentials(host: str) -> tuple[str, str] | None:
    user, password = os.environ.get(ENV_USER), os.environ.get(ENV_PASSWORD)
    if user and password:
        return user, password
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        auths = json.loads(config.read_text()).get("auths", {})
        entry = auths.get(host) or auths.get(f"https://{host}") or {}
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        return (user, password) if user else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@lru_cache(maxsize=None)
def _session():
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    retry = Retry(total=RETRIES, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=("GET", "HEAD"), respect_retry_after_header=True, raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if os.environ.get("SSL_CERT_FILE") and not os.environ.get("REQUESTS_CA_BUNDLE"):
        session.verify = os.environ["SSL_CERT_FILE"]
    return session


class Registry:
    """One repository of a registry, as ``url`` names it (``oci://host/repo``)."""

    def __init__(self, url: str):
        self.url = url
        self.base, self.repo = split(url)
        self.host = self.base.split("://", 1)[1]
        self._token: str | None = None

    def _get(self, path: str, accept: str = "", limit: int = MAX_MANIFEST_BYTES):
        """GET ``path`` (under ``/v2/<repo>/`` unless absolute), authenticating on 401;
        returns ``(body bytes, response)``.

        Raises:
            FetchError: missing (404), forbidden (401/403 after auth), unreachable, too
                large, or any other failure (the URL named, never a credential).
        """
        import requests

        url = path if path.startswith("http") else f"{self.base}/v2/{self.repo}/{path}"
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            if self._token:
                headers["Authorization"] = self._token
            try:
                with _session().get(url, headers=headers, timeout=TIMEOUT_S, stream=True) as reply:
                    if reply.status_code == 401 and attempt == 0 and self._authenticate(reply.headers.get("WWW-Authenticate", "")):
                        continue
                    if reply.status_code == 404:
                        raise FetchError(url, "missing", "404")
                    if reply.status_code in (401, 403):
                        raise FetchError(url, "forbidden", str(reply.status_code))
                    if reply.status_code != 200:
                        raise FetchError(url, "error", f"HTTP {reply.status_code}")
                    body = bytearray()
                    for chunk in reply.iter_content(1 << 20):
                        body += chunk
                        if len(body) > limit:
                            raise FetchError(url, "error", f"larger than {limit:,} bytes")
                    return bytes(body), reply
            except requests.exceptions.RequestException as exc:
                raise FetchError(url, "unreachable", type(exc).__name__) from None
        raise FetchError(url, "forbidden", "401")

    def _authenticate(self, challenge: str) -> bool:
        """Answer a ``WWW-Authenticate`` challenge; ``True`` when there is something to retry with."""
        import requests

        scheme, _, params = challenge.partition(" ")
        found = _credentials(self.host)
        if scheme.lower() == "basic":
            if not found:
                return False
            self._token = "Basic " + base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode()
            return True
        if scheme.lower() != "bearer":
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", "")
        if not realm.startswith(("https://", "http://")):
            return False
        try:
            reply = _session().get(realm, params=fields, auth=found, timeout=TIMEOUT_S)
            reply.raise_for_status()
            answer = reply.json()
        except (requests.exceptions.RequestException, ValueError):
            return False
        token = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            return False
        self._token = f"Bearer {token}"
        return True

    def manifest(self, tag: str) -> dict:
        """The image manifest of ``tag``.

        Raises:
            FetchError: as :meth:`_get`, or a manifest that is not JSON.
        """
        body, _ = self._get(f"manifests/{tag}", accept=MANIFEST_TYPES)
        try:
            manifest = json.loads(body)
            if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
                raise ValueError("no layers")
            return manifest
        except (ValueError, RecursionError) as exc:
            raise FetchError(f"{self.url} {tag}", "error", f"not an image manifest ({exc})") from None

    def tags(self) -> list[str]:
        """Every tag of the repository, following ``Link: rel="next"`` pages."""
        out: list[str] = []
        path = "tags/list?n=1000"
        for _ in range(10_000):  # a bound on pages, not on tags
            body, reply = self._get(path)
            try:
                out += [str(t) for t in json.loads(body).get("tags") or []]
            except (ValueError, AttributeError, RecursionError):
                raise FetchError(f"{self.url} tags/list", "error", "not a tag list") from None
            nxt = reply.links.get("next", {}).get("url")
            if not nxt:
                return out
            path = nxt if nxt.startswith("http") else f"{self.base}{nxt}"
        return out

    def blob(self, digest: str, limit: int = MAX_INDEX_BYTES) -> bytes:
        """A blob, checked against its sha256 ``digest``.

        Raises:
            FetchError: as :meth:`_get`, a digest that is not sha256, or a blob that
                does not hash to it.
        """
        if not _DIGEST.fullmatch(digest):
            raise FetchError(f"{self.url} blob", "error", f"digest {digest[:80]!r} is not sha256:<64 hex>")
        body, _ = self._get(f"blobs/{digest}", limit=limit)
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise FetchError(f"{self.url} blobs/{digest}", "error", "checksum mismatch")
        return body


def index_digest(registry: Registry) -> str:
    """The digest of the build-cache index (the single layer of ``index.spack``).

    Raises:
        FetchError: no ``index.spack`` (kind ``missing``: not a Spack build cache), or as
            :meth:`Registry.manifest`.
    """
    layers = registry.manifest(INDEX_TAG)["layers"]
    if len(layers) != 1 or not isinstance(layers[0], dict):
        raise FetchError(f"{registry.url} {INDEX_TAG}", "error", f"expected one layer, found {len(layers)}")
    return str(layers[0].get("digest", ""))


def binary_sizes(registry: Registry, hashes: list[str]) -> dict[str, int | None]:
    """Size in bytes of each binary in ``hashes`` (its tag's last layer), ``None`` where
    its tag or manifest is missing or unreadable; 16 manifests in flight."""
    by_hash = {}
    for tag in registry.tags():
        if tag.endswith(".spack") and tag != INDEX_TAG:
            by_hash[tag[:-6].rsplit("-", 1)[-1]] = tag

    def one(spec_hash: str) -> int | None:
        tag = by_hash.get(spec_hash)
        if tag is None:
            return None
        try:
            size = registry.manifest(tag)["layers"][-1].get("size")
        except (FetchError, IndexError, AttributeError):
            return None
        return size if isinstance(size, int) and size >= 0 else None

    with ThreadPoolExecutor(16) as pool:
        return dict(zip(hashes, pool.map(one, hashes)))
