"""Will a binary run here?  Spack's rule for reusing a binary on a host, with
archspec's microarchitecture graph.  Pure Python/pandas, no Panel.

A binary runs on a host when its platform and OS are the host's and its target
is the host's microarchitecture or one of its ancestors
(``archspec.cpu.TARGETS[target] <= host``).  That is a partial order:
``neoverse_v1 <= neoverse_v2`` is false even though both are aarch64, and a
generic target (``x86_64_v3``, ``aarch64``) runs on every host that has its
features.  A host is given as ``spack arch`` prints it
(``linux-ubuntu22.04-zen3``), as a target name alone (``zen3``: platform and OS
are then not checked), or detected (:func:`detect_host`).
"""

from __future__ import annotations

import platform as _platform
import sys
from dataclasses import dataclass
from pathlib import Path

import archspec.cpu
import numpy as np
import pandas as pd


class UnknownTarget(ValueError):
    """A host target archspec does not know (the message lists close names)."""


@dataclass(frozen=True)
class Host:
    """Where binaries should run: ``target`` (an archspec microarchitecture name),
    ``platform`` and ``os`` (``None``: not checked)."""

    target: str
    platform: str | None = None
    os: str | None = None

    def __str__(self) -> str:
        """``platform-os-target`` as ``spack arch`` prints it, ``*`` for an unchecked part."""
        return f"{self.platform or '*'}-{self.os or '*'}-{self.target}"


def _microarchitecture(name: str) -> archspec.cpu.Microarchitecture:
    try:
        return archspec.cpu.TARGETS[name]
    except KeyError:
        close = sorted(t for t in archspec.cpu.TARGETS if t[:3] == name[:3])[:8]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise UnknownTarget(f"unknown target {name!r}{hint}") from None


def parse_host(text: str) -> Host:
    """A :class:`Host` from ``platform-os-target`` (``linux-ubuntu22.04-zen3``) or a
    target name alone (``zen3``).

    Raises:
        UnknownTarget: the target is not one of ``archspec.cpu.TARGETS``.
        ValueError: empty text, or not one or three ``-``-separated parts.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty host: give a target (zen3) or platform-os-target (linux-ubuntu22.04-zen3)")
    parts = text.split("-")
    if len(parts) == 1:
        host = Host(parts[0])
    elif len(parts) >= 3:  # an OS name never holds "-" in Spack; a target never does
        host = Host(parts[-1], parts[0], "-".join(parts[1:-1]))
    else:
        raise ValueError(f"{text!r}: give a target (zen3) or platform-os-target (linux-ubuntu22.04-zen3)")
    _microarchitecture(host.target)
    return host


def _os_release(path: str = "/etc/os-release") -> str | None:
    """The OS as Spack names it (``ubuntu22.04``, ``rhel8``), from os-release."""
    try:
        fields = dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)
    except OSError:
        return None
    ident = fields.get("ID", "").strip('"')
    version = fields.get("VERSION_ID", "").strip('"')
    if ident in ("rhel", "centos", "rocky", "almalinux", "sles", "opensuse-leap", "debian", "fedora"):
        version = version.split(".")[0]
    return f"{ident}{version}" if ident else None


def detect_host() -> Host:
    """This machine: archspec's host microarchitecture, the platform (``linux``,
    ``darwin``) and the OS from ``/etc/os-release`` (``None`` where unknown)."""
    plat = {"linux": "linux", "darwin": "darwin", "win32": "windows"}.get(sys.platform)
    os_name = _os_release() if plat == "linux" else (f"macos{_platform.mac_ver()[0].split('.')[0]}" if plat == "darwin" else None)
    return Host(archspec.cpu.host().name, plat, os_name)


def target_runs_on(target: str, host_target: str) -> bool:
    """``True`` when a binary built for ``target`` runs on ``host_target`` (archspec's
    ``<=``); ``False`` for an unknown ``target``."""
    if target not in archspec.cpu.TARGETS:
        return False
    return archspec.cpu.TARGETS[target] <= _microarchitecture(host_target)


def why_not(target: str, host_target: str) -> str:
    """Why a binary built for ``target`` does not run on ``host_target`` (``""`` when it does).

    Examples: ``"unknown target 'foo' (archspec does not know it)"``,
    ``"x86_64 binary, aarch64 host"``, ``"needs avx512f, avx512bw (+3 more) that zen3 lacks"``,
    ``"neoverse_v1 is not an ancestor of neoverse_v2 (a sibling branch of the family tree)"``.
    """
    if target not in archspec.cpu.TARGETS:
        return f"unknown target {target!r} (archspec does not know it)"
    built, host = archspec.cpu.TARGETS[target], _microarchitecture(host_target)
    if built <= host:
        return ""
    if built.family != host.family:
        return f"{built.family.name} binary, {host.family.name} host"
    missing = sorted(set(built.features) - set(host.features))
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        return f"needs {', '.join(missing[:5])}{more} that {host.name} lacks"
    return f"{built.name} is not an ancestor of {host.name} (a sibling branch of the family tree)"


def _reason(platform: str, os_name: str, target: str, host: Host) -> str:
    """Why a binary built for (``platform``, ``os_name``, ``target``) does not run on
    ``host``: platform, then OS, then target (:func:`why_not`); ``""`` when it runs."""
    if host.platform and platform != host.platform:
        return f"built for platform {platform}, host is {host.platform}"
    if host.os and os_name != host.os:
        return f"built for {os_name}, host runs {host.os}"
    return why_not(target, host.target)


def _reasons(specs: pd.DataFrame, host: Host) -> np.ndarray:
    """:func:`_reason` per row of ``specs`` (``str`` array), decided once per distinct
    (platform, OS, target) through the columns' categorical codes: one array
    lookup per row, so millions of rows cost milliseconds."""
    cols = [specs[c] if isinstance(specs[c].dtype, pd.CategoricalDtype) else specs[c].astype("category") for c in ("platform", "os", "target")]
    sizes = [len(c.cat.categories) + 1 for c in cols]  # code -1 (missing) becomes 0
    key = np.zeros(len(specs), dtype=np.int64)
    for c, size in zip(cols, sizes):
        key = key * size + c.cat.codes.to_numpy().astype(np.int64) + 1
    unique, inverse = np.unique(key, return_inverse=True)
    verdicts = np.empty(len(unique), dtype=object)
    for i, k in enumerate(unique.tolist()):
        parts = []
        for c, size in zip(reversed(cols), reversed(sizes)):
            k, code = divmod(k, size)
            parts.append(str(c.cat.categories[code - 1]) if code else "")
        verdicts[i] = _reason(*reversed(parts), host)
    return verdicts[inverse.ravel()]


def runs_here(specs: pd.DataFrame, host: Host) -> pd.DataFrame:
    """Which spec rows run on ``host``.

    Args:
        specs: spec rows with ``platform``, ``os``, ``target`` (see
            :attr:`dashboard.model.CacheData.specs`).
        host: from :func:`parse_host` or :func:`detect_host`.

    Returns:
        DataFrame on ``specs``'s index: ``runs`` (``bool``) and ``why``
        (``str``: ``""`` where it runs, else the first reason: platform, OS,
        then target as :func:`why_not` gives it).
    """
    why = _reasons(specs, host)
    return pd.DataFrame({"runs": why == "", "why": why}, index=specs.index)


def runs_mask(specs: pd.DataFrame, host: Host) -> np.ndarray:
    """Boolean array over ``specs`` rows: ``True`` where the binary runs on ``host``
    (see :func:`runs_here`)."""
    return _reasons(specs, host) == ""


def unknown_targets(specs: pd.DataFrame) -> list[str]:
    """Targets in ``specs`` that archspec does not know (sorted): reported, never fatal."""
    return sorted(t for t in map(str, pd.unique(specs["target"].astype(str))) if t not in archspec.cpu.TARGETS)


def summary(specs: pd.DataFrame, host: Host) -> dict:
    """Counts for ``host``: ``{"host", "runs", "total", "packages", "why": {reason: specs},
    "unknown_targets": [...]}`` (``why`` sorted by count, largest first)."""
    verdict = runs_here(specs, host)
    why = verdict.loc[~verdict["runs"], "why"].value_counts()
    return {
        "host": str(host),
        "runs": int(verdict["runs"].sum()),
        "total": len(specs),
        "packages": int(specs.loc[verdict["runs"].to_numpy(), "package"].nunique()),
        "why": {str(k): int(v) for k, v in why.items()},
        "unknown_targets": unknown_targets(specs),
    }


def ancestors(target: str) -> list[str]:
    """``target`` and its ancestors, nearest first (``zen3 -> zen2 -> zen -> x86_64_v3 ...``);
    ``[target]`` when archspec does not know it."""
    if target not in archspec.cpu.TARGETS:
        return [target]
    micro = archspec.cpu.TARGETS[target]
    return [micro.name] + [a.name for a in micro.ancestors]


__all__ = ["Host", "UnknownTarget", "ancestors", "detect_host", "parse_host", "runs_here", "runs_mask", "summary", "target_runs_on", "unknown_targets", "why_not"]
