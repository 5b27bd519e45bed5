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
the credentials directly.  Credentials come from the mirror's ``access_pair`` in Spack's
``mirrors.yaml`` (``{id or id_variable, secret_variable}``, as Spack reads it), else
``$SPACK_CACHE_DASHBOARD_OCI_USERNAME`` and ``$SPACK_CACHE_DASHBOARD_OCI_PASSWORD``,
else Docker's ``config.json``
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

from dashboard.sources import limits
from dashboard.sources.remote import FetchError

#: Largest manifest and index blob read (bytes; :mod:`dashboard.sources.limits`).
MAX_MANIFEST_BYTES, MAX_INDEX_BYTES = limits.MAX_MANIFEST_BYTES, limits.MAX_INDEX_BYTES
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
INDEX_TAG = "index.spack"
#: Image manifests read at once for sizes.
SIZE_THREADS = 16
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


def _credentials(host: str, access_pair: tuple[str, str] | None = None) -> tuple[str, str] | None:
    if access_pair:
        return access_pair
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
    retry = Retry(total=limits.RETRIES, backoff_factor=limits.BACKOFF_S, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=("GET", "HEAD"), respect_retry_after_header=True, raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _verify() -> str | bool:
    """The CA bundle to check a registry's certificate with, read at each request:
    ``$REQUESTS_CA_BUNDLE``, else ``$SSL_CERT_FILE``, else the bundled one."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True


def _reason(exc: Exception) -> str:
    """What went wrong with a request, in words: a timeout names its limit."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text.lower() or "ReadTimeout" in text:
        return (f"no answer within the {limits.read_timeout():g} s timeout (${limits.ENV_TIMEOUT}), "
                f"asked {limits.RETRIES + 1} times")
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS certificate not trusted (a site CA bundle goes in $SSL_CERT_FILE or $REQUESTS_CA_BUNDLE)"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return "too many redirects"
    if "Max retries exceeded" in text and "Connection refused" in text:
        return "connection refused"
    return type(exc).__name__


class Registry:
    """One repository of a registry, as ``url`` names it (``oci://host/repo``);
    ``access_pair``: ``(user, password)`` from Spack's ``mirrors.yaml``, tried before
    the environment and Docker's ``config.json``."""

    def __init__(self, url: str, access_pair: tuple[str, str] | None = None):
        self.url = url
        self._access_pair = access_pair
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
                with _session().get(url, headers=headers, timeout=limits.timeouts(), stream=True, verify=_verify()) as reply:
                    if reply.status_code == 401 and attempt == 0 and self._authenticate(reply.headers.get("WWW-Authenticate", "")):
                        continue
                    if reply.status_code == 404:
                        raise FetchError(url, "missing", "404")
                    if reply.status_code in (401, 403):
                        raise FetchError(url, "forbidden", f"{reply.status_code}: {self._refusal()}")
                    if reply.status_code != 200:
                        raise FetchError(url, "error", f"HTTP {reply.status_code}")
                    body = bytearray()
                    for chunk in reply.iter_content(1 << 20):
                        body += chunk
                        if len(body) > limit:
                            raise FetchError(url, "error", f"larger than {limit:,} bytes")
                    return bytes(body), reply
            except requests.exceptions.RequestException as exc:
                raise FetchError(url, "unreachable", _reason(exc)) from None
        raise FetchError(url, "forbidden", f"401: {self._refusal()}")

    def _refusal(self) -> str:
        """Why a registry may have refused us, naming where credentials come from (never the credentials)."""
        if self._token and _credentials(self.host, self._access_pair):
            return "the registry refused the credentials given"
        return (f"credentials needed: an access_pair in mirrors.yaml, ${ENV_USER} and ${ENV_PASSWORD}, "
                f"or Docker's config.json entry for {self.host}")

    def _authenticate(self, challenge: str) -> bool:
        """Answer a ``WWW-Authenticate`` challenge; ``True`` when there is something to retry with."""
        import requests

        scheme, _, params = challenge.partition(" ")
        found = _credentials(self.host, self._access_pair)
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
            reply = _session().get(realm, params=fields, auth=found, timeout=limits.timeouts(), verify=_verify())
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
            FetchError: as :meth:`_get`, a manifest that is not JSON, or one that does not
                hash to the ``Docker-Content-Digest`` the registry sends with it.
        """
        body, reply = self._get(f"manifests/{tag}", accept=MANIFEST_TYPES)
        said = reply.headers.get("Docker-Content-Digest", "")
        if _DIGEST.fullmatch(said) and "sha256:" + hashlib.sha256(body).hexdigest() != said:
            raise FetchError(f"{self.url} manifests/{tag}", "error", f"checksum mismatch: the manifest does not hash to the {said} the registry gives")
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
        for _ in range(limits.MAX_TAG_PAGES):
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


def tag_map(registry: Registry) -> dict[str, str]:
    """``{dag hash: tag}`` of the binaries' tags (``<name>-<version>-<hash>.spack``).

    Raises:
        FetchError: as :meth:`Registry.tags`.
    """
    return {tag[:-6].rsplit("-", 1)[-1]: tag for tag in registry.tags() if tag.endswith(".spack") and tag != INDEX_TAG}


def binary_sizes(registry: Registry, hashes: list[str], tags: dict[str, str] | None = None) -> dict[str, int | None]:
    """Size in bytes of each binary in ``hashes`` (its tag's last layer), ``None`` where
    its tag or manifest is missing, unreadable or does not hash to its digest;
    :data:`SIZE_THREADS` manifests in flight.  ``tags``: :func:`tag_map`, when known."""
    by_hash = tags if tags is not None else tag_map(registry)

    def one(spec_hash: str) -> int | None:
        tag = by_hash.get(spec_hash)
        if tag is None:
            return None
        try:
            size = registry.manifest(tag)["layers"][-1].get("size")
        except (FetchError, IndexError, AttributeError):
            return None
        return size if isinstance(size, int) and size >= 0 else None

    with ThreadPoolExecutor(SIZE_THREADS) as pool:
        return dict(zip(hashes, pool.map(one, hashes)))
