"""Questions asked of loaded build caches: pure functions over the DataFrames of :class:`dashboard.model.CacheData` (selection, spec queries, differences, install commands, signatures). No Panel."""
