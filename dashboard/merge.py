"""Several loaded sources as one :class:`~dashboard.model.CacheData`: cache.spack.io
pages and Spack mirrors together.  Pure pandas, no Panel.

A spec (tag, hash) present in several sources is one spec: the row of the
source listed first that knows its size (mirrors read with ``--sizes`` do)
wins, and its stacks are the union of every source's stacks for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.frames import sorted_categorical
from dashboard.model import CacheData, LoadReport
from dashboard.core.spack import version_key

_CATEGORY_COLUMNS = ("tag", "package", "version", "compiler", "os", "platform", "target", "variants", "stacks")


def merge(parts: list[CacheData], source: str = "") -> CacheData:
    """One :class:`CacheData` holding every spec of ``parts`` once (see the module docstring).

    Page ids are renumbered (each part's offset by the ones before it);
    ``spec_stacks`` is rebuilt from the merged ``stacks``; ``problems``,
    ``pages``, ``meta_stacks``, ``dependencies``, ``mirrors`` and ``nodes``
    are concatenated (a node in several parts once).  ``report`` is the first part's, with every part's line in
    ``store_note``.
    """
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [int(p.pages["page_id"].max()) + 1 if len(p.pages) else 0 for p in parts[:-1]])
    specs = pd.concat(
        [p.specs.astype({c: str for c in _CATEGORY_COLUMNS}).assign(page_id=p.specs["page_id"] + off, _part=i)
         for i, (p, off) in enumerate(zip(parts, offsets))],
        ignore_index=True,
    )
    key = specs["tag"] + "\x00" + specs["hash"]
    stacks = specs["stacks"].str.split(", ").groupby(key).agg(lambda lists: ", ".join(sorted({s for lst in lists for s in lst if s})))
    specs = specs.assign(_known=specs["size"].isna()).sort_values(["_known", "_part"], kind="stable")
    specs = specs[~key.loc[specs.index].duplicated()].sort_index()
    specs["stacks"] = stacks.loc[(specs["tag"] + "\x00" + specs["hash"]).to_numpy()].to_numpy()
    specs = specs.drop(columns=["_part", "_known"]).reset_index(drop=True)
    for col in _CATEGORY_COLUMNS:
        specs[col] = sorted_categorical(specs[col], key=version_key if col == "version" else str)
    lists = specs["stacks"].astype(str).str.split(", ")
    spec_stacks = pd.DataFrame({
        "spec": np.repeat(np.arange(len(specs), dtype=np.int32), lists.str.len().to_numpy()),
        "stack": sorted_categorical(np.concatenate(lists.to_numpy()) if len(lists) else []),
    })

    def stacked(name: str) -> pd.DataFrame:
        frames = [getattr(p, name).assign(page_id=getattr(p, name)["page_id"] + off) if "page_id" in getattr(p, name) else getattr(p, name)
                  for p, off in zip(parts, offsets)]
        return pd.concat(frames, ignore_index=True)

    pages = stacked("pages")
    for col in ("tag", "package"):
        pages[col] = sorted_categorical(pages[col].astype(str))
    report = LoadReport(**{**parts[0].report.__dict__})
    report.store_note = "; ".join(f"{p.source}: {p.report}" for p in parts)
    return CacheData(
        specs=specs, spec_stacks=spec_stacks, pages=pages, meta_stacks=stacked("meta_stacks"),
        problems=pd.concat([p.problems for p in parts], ignore_index=True), source=source, report=report,
        dependencies=stacked("dependencies"), mirrors=pd.concat([p.mirrors for p in parts], ignore_index=True),
        nodes=pd.concat([p.nodes for p in parts], ignore_index=True).drop_duplicates(["tag", "hash"], ignore_index=True),
    )
