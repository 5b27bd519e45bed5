"""Which binaries of a loaded build cache carry a good signature, and by whom.  Pure
pandas (no Panel); the OpenPGP work is :mod:`dashboard.sources.signatures`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from dashboard.model import CacheData
from dashboard.sources.mirror_fetch import spec_manifest_url
from dashboard.sources.oci import is_oci
from dashboard.sources.remote import FetchError, read_many
from dashboard.sources.signatures import STATUSES, Keyring, mirror_keys, verify
from dashboard.core.terms import SIGNATURE_COLUMN

#: Statuses from the worst to the best: a binary held by several mirrors shows its worst.
WORST_FIRST = ("bad signature", "unknown key", "no manifest", "unsigned", "verified (mirror key)", "verified")

#: Columns of :func:`verify_cache`'s rows.
COLUMNS = ("tag", "stack", "hash", "package", "version", "signature", "signer", "mirror")


def verify_cache(data: CacheData, trusted: dict | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Verify the spec manifest of every binary in every mirror ``data`` was read from.

    Args:
        data: a loaded mirror source (pages have no signatures: no rows).
        trusted: the user's certificates (:func:`dashboard.sources.signatures.trusted_keys`).

    Returns:
        ``(rows, problems)``: one row per binary per mirror, columns :data:`COLUMNS`
        (``signature`` one of :data:`~dashboard.sources.signatures.STATUSES`, ``signer``
        the key's fingerprint or ``""``; all ``str``); ``problems``: key files that could
        not be read, each naming its URL.
    """
    out, problems = [], []
    if not len(data.mirrors):
        return pd.DataFrame(columns=list(COLUMNS)), problems
    specs = data.specs
    stacks = data.spec_stacks.assign(tag=specs["tag"].astype(str).to_numpy()[data.spec_stacks["spec"].to_numpy()],
                                     stack=data.spec_stacks["stack"].astype(str))
    for mirror in data.mirrors.itertuples(index=False):
        rows = specs.iloc[stacks.loc[(stacks["tag"] == mirror.tag) & (stacks["stack"] == mirror.stack), "spec"].to_numpy()]
        plain = rows[["hash", "package", "version"]].astype(str)
        if is_oci(mirror.url):  # Spack never signs a build cache in an OCI registry
            out += [(mirror.tag, mirror.stack, h, n, v, "unsigned", "", mirror.url) for h, n, v in plain.itertuples(index=False)]
            continue
        keys, trouble = mirror_keys(mirror.url)
        problems += trouble
        ring = Keyring(published=keys, trusted=dict(trusted or {}))
        urls = [spec_manifest_url(mirror.url, n, v, h) for h, n, v in plain.itertuples(index=False)]
        texts = read_many([u for u in urls if u is not None])
        for (h, n, v), url in zip(plain.itertuples(index=False), urls):
            text = texts[url] if url is not None else FetchError(f"{mirror.url} {n}", "error", "not a name, version and hash Spack writes")
            status, signer = ("no manifest", "") if isinstance(text, FetchError) else verify(text, ring)
            out.append((mirror.tag, mirror.stack, h, n, v, status, signer, mirror.url))
    return pd.DataFrame(out, columns=list(COLUMNS)), problems


def headline(rows: pd.DataFrame) -> str:
    """One line for people: ``"16 signed: 16 verified by AE8EE6A8…, key only from the
    mirror"``, or what is wrong first (``"1 bad signature"``...)."""
    if rows.empty:
        return "no binaries to verify"
    counts = rows["signature"].astype(str).value_counts()
    parts = [f"{counts[s]} {s}" for s in STATUSES if s in counts and not s.startswith("verified")]
    good = rows[rows["signature"].astype(str).str.startswith("verified")]
    signed = len(rows) - int(counts.get("unsigned", 0)) - int(counts.get("no manifest", 0))
    if len(good):
        by = ", ".join(f"{fpr[:8].upper()}…" for fpr in sorted(set(good["signer"])))
        where = "trusted here" if (good["signature"] == "verified").all() else (
            "key only from the mirror" if (good["signature"] != "verified").all() else "some keys only from the mirror")
        parts.insert(0, f"{len(good)} verified by {by}, {where}")
    return f"{signed} signed: " + "; ".join(parts)


def with_signatures(data: CacheData, trusted: dict | None = None) -> CacheData:
    """``data`` with each binary's signature status: :func:`verify_cache` over every mirror
    it was read from, put into the specs.

    Returns:
        A new :class:`~dashboard.model.CacheData` whose ``specs`` gain ``signature``
        (``category`` of :data:`~dashboard.sources.signatures.STATUSES`; the worst of
        the binary's mirrors, :data:`WORST_FIRST`) and ``signer`` (``str``, the signing
        key's fingerprint, ``""`` when not verified); key files that could not be read
        become ``warning`` problems naming their URL.  Pages (no mirrors): ``data``
        unchanged, with no such columns.
    """
    if not len(data.mirrors):
        return data
    rows, trouble = verify_cache(data, trusted)
    rank = {status: i for i, status in enumerate(WORST_FIRST)}
    worst = (rows.assign(rank=rows["signature"].map(rank)).sort_values("rank", kind="stable")
             .drop_duplicates(["tag", "hash"]).set_index(["tag", "hash"]))
    keys = pd.MultiIndex.from_arrays([data.specs["tag"].astype(str), data.specs["hash"].astype(str)])
    status = worst["signature"].reindex(keys).fillna("no manifest").to_numpy()
    specs = data.specs.assign(
        **{SIGNATURE_COLUMN: pd.Categorical(status, categories=list(WORST_FIRST))},
        signer=worst["signer"].reindex(keys).fillna("").to_numpy().astype(str),
    )
    problems = data.problems
    if trouble:
        where, why = zip(*(t.split(": ", 1) if ": " in t else (t, "") for t in trouble))
        extra = pd.DataFrame({"path": list(where), "tag": "", "package": "", "severity": "warning",
                              "problem": [f"a key the mirror publishes could not be read: {w}" for w in why]})
        problems = pd.concat([problems, extra.astype({c: problems[c].dtype for c in extra if c in problems})], ignore_index=True)
    return dataclasses.replace(data, specs=specs, problems=problems)
