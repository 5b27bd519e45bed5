"""Where things are: the one place for paths and environment variables.

* the data a dashboard shows: ``--data PATH``, else ``$SPACK_CACHE_DASHBOARD_DATA``,
  else the real pages shipped with the package (:func:`default_data`);
* the local store of parsed pages: ``$SPACK_CACHE_DASHBOARD_CACHE``, else
  ``$XDG_CACHE_HOME/spack-cache-dashboard`` (see :func:`dashboard.store.default_store_dir`).

No Panel, no pandas.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DATA_ENV = "SPACK_CACHE_DASHBOARD_DATA"
STORE_ENV = "SPACK_CACHE_DASHBOARD_CACHE"
#: The embedded real pages: inside the installed package (a wheel carries them as
#: ``dashboard/_pages``) or, in a source checkout, ``assets/pages``.
_PACKAGED = Path(__file__).resolve().parent / "_pages"
_CHECKOUT = Path(__file__).resolve().parent.parent / "assets" / "pages"


def default_data() -> Path:
    """The real cache.spack.io pages shipped with the dashboard (4 tags, 74 pages).

    Raises:
        FileNotFoundError: neither the packaged nor the checkout copy exists.
    """
    for path in (_PACKAGED, _CHECKOUT):
        if path.is_dir():
            return path
    raise FileNotFoundError(f"the embedded pages are missing (looked in {_PACKAGED} and {_CHECKOUT})")


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--data`` (and ``--no-cache``) to ``parser``, as every command takes them."""
    parser.add_argument(
        "--data", default=None,
        help="a specs.md page or a _cache tree of pages; or a Spack mirror (folder, file://, http(s)://, s3://, "
        "oci:// or oci+http:// registry), "
        f"a cache_spack_io_index.json or a mirror-set YAML (default: ${DATA_ENV}, else the embedded real pages)",
    )
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the local store")
    parser.add_argument(
        "--sizes", action="store_true",
        help="mirrors: read each binary's size from its v3 spec manifest (one request per binary, cached)",
    )
    parser.add_argument(
        "--verify", action="store_true",
        help="mirrors: check each binary's signature (its spec manifest, one request per binary) against the mirror's "
        "keys and --trusted-keys; the dashboard shows a signature column and line",
    )
    parser.add_argument("--trusted-keys", metavar="DIR", help="folder of public keys you trust (*.pub, *.asc, *.gpg, *.key)")
    parser.add_argument("--gnupghome", metavar="DIR", default=os.environ.get("SPACK_GNUPGHOME"),
                        help="a GnuPG home whose public keys you trust (default: $SPACK_GNUPGHOME)")


def wants_sizes(argv: list[str] | None = None) -> bool:
    """Whether ``--sizes`` is in ``argv`` (default ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_data_argument(parser)
    return parser.parse_known_args(sys.argv[1:] if argv is None else argv)[0].sizes


def verify_options(argv: list[str] | None = None) -> tuple[str | None, str | None] | None:
    """``(trusted_keys, gnupghome)`` when ``--verify`` is in ``argv`` (default
    ``sys.argv[1:]``), else ``None``: what :func:`dashboard.app.shared_data` verifies with."""
    parser = argparse.ArgumentParser(add_help=False)
    add_data_argument(parser)
    args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)[0]
    return (args.trusted_keys, args.gnupghome) if args.verify else None


def data_path(argv: list[str] | None = None) -> str:
    """The data to show: ``--data PATH`` in ``argv`` (default ``sys.argv[1:]``; other
    arguments are ignored), else ``$SPACK_CACHE_DASHBOARD_DATA``, else :func:`default_data`."""
    parser = argparse.ArgumentParser(add_help=False)
    add_data_argument(parser)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return args.data or os.environ.get(DATA_ENV) or str(default_data())
