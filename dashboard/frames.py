"""Arrow tables (as :mod:`dashboard.sources.parse` and the store give them) -> the pandas
DataFrames of :class:`dashboard.model.CacheData`.

Text columns become categoricals with sorted categories (versions in Spack's
order, see :mod:`dashboard.core.spack`), so every later groupby and filter works on
small integer codes.  No Panel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.core.schema import SCHEMAS, TABLES, concat_tables, empty_tables  # noqa: F401  (re-exported)
from dashboard.core.spack import version_key

#: Columns read back from the cache as Arrow dictionaries (-> pandas categoricals, no re-hashing).
#: Columns of ``specs`` converted as they are (``page_id``, ``tag``, ``package`` are derived).
SPEC_VALUE_COLUMNS = ["hash", "version", "compiler", "os", "platform", "target", "variants", "stacks", "size", "n_deps", "package_hash"]


DICT_COLUMNS = {
    "specs": ["version", "compiler", "os", "platform", "target", "variants", "stacks", "package_hash"],
    "spec_stacks": ["stack"],
    "meta_stacks": ["stack"],
    "dependencies": ["dep_name", "deptypes", "virtuals"],
}


def with_dictionaries(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """``tables`` (see :data:`dashboard.core.schema.TABLES`) with the :data:`DICT_COLUMNS`
    text columns dictionary-encoded, as the store holds them: done in the parser
    processes, it spares the frames a factorization of every text column (2M rows)."""
    out = dict(tables)
    for name, columns in DICT_COLUMNS.items():
        table = out[name]
        for col in columns:
            column = table.column(col)
            if not pa.types.is_dictionary(column.type) and column.null_count < len(column):  # (no values: left as they are)
                table = table.set_column(table.schema.get_field_index(col), col, pc.dictionary_encode(column))
        out[name] = table
    return out


def sorted_categorical(values, key=str) -> pd.Categorical:
    """``values`` as a categorical whose categories are sorted by ``key``."""
    cat = pd.Categorical(values)
    if key is str and cat.categories.is_monotonic_increasing:  # e.g. read from the cache: nothing to recode
        return cat
    order = sorted(cat.categories, key=key)
    return cat if list(cat.categories) == order else cat.reorder_categories(order)


def to_frames(tables: dict[str, pa.Table], next_id: int) -> dict[str, pd.DataFrame]:
    """Arrow tables of live pages only (page ids below ``next_id``) -> DataFrames
    (see :class:`CacheData`); spec ids are positions in the result."""
    pages = tables["pages"].to_pandas()
    for col in ("tag", "package"):
        pages[col] = sorted_categorical(pages[col])
    pages["meta_num_specs"] = pages["meta_num_specs"].astype("Int64")
    spec_table = tables["specs"]
    specs = pd.DataFrame(index=pd.RangeIndex(spec_table.num_rows))
    page_ids = spec_table.column("page_id").to_numpy()
    position = np.zeros(max(next_id, int(page_ids.max(initial=-1)) + 1, 1), dtype=np.int64)
    position[pages["page_id"].to_numpy()] = np.arange(len(pages))
    pos = position[page_ids]
    specs["tag"] = pd.Categorical.from_codes(pages["tag"].cat.codes.to_numpy()[pos], dtype=pages["tag"].dtype)
    specs["package"] = pd.Categorical.from_codes(pages["package"].cat.codes.to_numpy()[pos], dtype=pages["package"].dtype)
    # one multi-threaded conversion (measured faster than column by column)
    converted = spec_table.select(SPEC_VALUE_COLUMNS).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for name in SPEC_VALUE_COLUMNS:
        if name == "version":  # Spack's version order: sorting the column sorts versions as Spack does
            specs[name] = sorted_categorical(converted[name], key=version_key)
        elif name in DICT_COLUMNS["specs"]:
            specs[name] = sorted_categorical(converted[name])
        else:
            specs[name] = converted[name]
    specs["hash"] = specs["hash"].astype("str")  # already "str" with pandas >= 3
    specs["page_id"] = page_ids.astype(np.int32)
    n_stacks = spec_table.column("n_stacks").to_numpy()
    spec_stacks = pd.DataFrame(
        {
            "spec": np.repeat(np.arange(len(specs), dtype=np.int32), n_stacks),
            "stack": sorted_categorical(tables["spec_stacks"].column("stack").to_pandas()),
        }
    )
    meta_stacks = tables["meta_stacks"].to_pandas()
    meta_stacks["stack"] = sorted_categorical(meta_stacks["stack"])
    problems = tables["problems"].to_pandas()
    dependencies = tables["dependencies"].to_pandas()
    for col in DICT_COLUMNS["dependencies"]:
        dependencies[col] = sorted_categorical(dependencies[col])
    return {"specs": specs, "spec_stacks": spec_stacks, "pages": pages, "meta_stacks": meta_stacks, "problems": problems, "dependencies": dependencies}
