"""Verify the signatures of a build cache's spec manifests, as Spack signs them.

Spack clear-signs every spec manifest of a signed v3 cache
(``v3/manifests/spec/<name>/<name>-<version>-<hash>.spec.manifest.json``, OpenPGP) and
never the index manifest; the mirror publishes its public keys
(``v3/manifests/key/keys.manifest.json`` -> a key index blob ``{"keys": {FPR: {}}}``,
and ``v3/manifests/key/<FPR>.key.manifest.json`` -> the key's blob; v2 layout:
``build_cache/_pgp/index.json`` and ``build_cache/_pgp/<FPR>.pub``).  The verification
is OpenPGP in process (Sequoia, through ``pysequoia``: ~0.1 ms a manifest, where one
``gpg --verify`` process per file costs ~10 ms; ``benchmarks/verify.py`` measures both).

A binary's status (:data:`STATUSES`):

* ``verified`` - a good signature by a key the user trusts (``--trusted-keys``);
* ``verified (mirror key)`` - a good signature by a key only the mirror publishes
  (a copy of the cache could publish its own key: trust it only as far as the mirror);
* ``unsigned`` - the manifest carries no signature;
* ``bad signature`` - signed by a known key, but the text does not match the signature
  (changed after signing): never accepted silently;
* ``unknown key`` - signed by a key neither the mirror nor the user has;
* ``no manifest`` - the manifest could not be read (the message says why).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.sources.remote import FetchError, join, read, read_many

STATUSES = ("verified", "verified (mirror key)", "unsigned", "bad signature", "unknown key", "no manifest")
_SIGNED = b"-----BEGIN PGP SIGNED MESSAGE-----"


class KeyError_(ValueError):
    """Key material that cannot be read (the message names the file)."""


@dataclass
class Keyring:
    """OpenPGP certificates by lower-case fingerprint: ``published`` by the mirror,
    ``trusted`` by the user."""

    published: dict = field(default_factory=dict)
    trusted: dict = field(default_factory=dict)

    def certs(self) -> list:
        return list({**self.published, **self.trusted}.values())

    def knows(self, key_id: str) -> bool:
        key_id = key_id.lower()
        return any(fpr.endswith(key_id) or key_id.endswith(fpr) for fpr in (*self.published, *self.trusted))


def certificates(data: bytes, where: str) -> dict:
    """Every certificate in ``data`` (armoured or binary), by fingerprint.

    Raises:
        KeyError_: not OpenPGP key material (``where`` names the file).
    """
    import pysequoia

    try:
        return {c.fingerprint.lower(): c for c in pysequoia.Cert.split_bytes(data)}
    except Exception as exc:  # noqa: BLE001 - Sequoia's errors are RuntimeError/ValueError
        raise KeyError_(f"{where}: not an OpenPGP key ({str(exc).splitlines()[0][:120]})") from None


def trusted_keys(folder: str | Path | None = None, gnupghome: str | Path | None = None) -> dict:
    """The user's trusted certificates: every ``*.pub``, ``*.asc``, ``*.gpg``, ``*.key``
    file of ``folder``, and the public keys of a GnuPG home (Spack's ``SPACK_GNUPGHOME``,
    exported with the system ``gpg``).

    Raises:
        KeyError_: a file that is not key material, or a GnuPG home gpg cannot read.
    """
    out: dict = {}
    if folder is not None:
        for path in sorted(Path(folder).iterdir()):
            if path.suffix in (".pub", ".asc", ".gpg", ".key") and path.is_file():
                out.update(certificates(path.read_bytes(), str(path)))
    if gnupghome is not None:
        run = subprocess.run(["gpg", "--homedir", str(gnupghome), "--batch", "--export"], capture_output=True, timeout=60)
        if run.returncode != 0:
            raise KeyError_(f"{gnupghome}: gpg could not export its keys ({run.stderr.decode(errors='replace')[:200]})")
        if run.stdout:
            out.update(certificates(run.stdout, str(gnupghome)))
    return out


def _blob(url: str, manifest: bytes) -> bytes:
    entry = json.loads(manifest)["data"][0]
    digest = str(entry["checksum"])
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise KeyError_(f"{url}: checksum {digest[:80]!r} is not a sha256")
    return read(join(url.split("/v3/manifests/", 1)[0], "blobs/sha256", digest[:2], digest))


def mirror_keys(mirror_url: str) -> tuple[dict, list[str]]:
    """The certificates a mirror publishes, and the problems met reading them (a key
    that cannot be read is a problem, never a reason to stop).  v3: the key index and
    each key manifest; v2: ``build_cache/_pgp``."""
    keys, problems = {}, []
    index_url = join(mirror_url, "v3/manifests/key/keys.manifest.json")
    try:
        fingerprints = list(json.loads(_blob(index_url, read(index_url)))["keys"])
        urls = [join(mirror_url, f"v3/manifests/key/{fpr}.key.manifest.json") for fpr in fingerprints]
        blob = True
    except (FetchError, KeyError_, ValueError, KeyError, TypeError, IndexError):
        try:
            index = json.loads(read(join(mirror_url, "build_cache/_pgp/index.json")))
            urls = [join(mirror_url, f"build_cache/_pgp/{fpr}.pub") for fpr in index.get("keys", {})]
            blob = False
        except (FetchError, ValueError, AttributeError):
            return keys, problems
    for url, data in read_many(urls).items():
        try:
            if isinstance(data, FetchError):
                raise KeyError_(f"{url}: {data.kind}")
            keys.update(certificates(_blob(url, data) if blob else data, url))
        except (KeyError_, FetchError, ValueError, KeyError, TypeError, IndexError) as exc:
            problems.append(str(exc))
    return keys, problems


def verify(text: bytes, keyring: Keyring) -> tuple[str, str]:
    """``(status, fingerprint)`` of one spec manifest's bytes (see :data:`STATUSES`);
    the fingerprint of the key that signed it when verified, else ``""``."""
    import pysequoia

    if not text.lstrip().startswith(_SIGNED):
        return "unsigned", ""
    asked: list[str] = []

    def store(ids):
        asked.extend(ids)
        return keyring.certs()

    try:
        result = pysequoia.verify(bytes=text, store=store)
    except Exception:  # noqa: BLE001 - Sequoia says "no valid signatures" for both cases
        return ("bad signature" if any(keyring.knows(i) for i in asked) else "unknown key"), ""
    if not result.valid_sigs:
        return "unknown key", ""
    fpr = str(result.valid_sigs[0].certificate).lower()
    return ("verified" if fpr in keyring.trusted else "verified (mirror key)"), fpr
